using System;
using System.Threading;
using System.Threading.Tasks;
using System.Collections;
using System.Collections.Generic;
using System.Collections.Specialized;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Management.Automation;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.RegularExpressions;
using CsCheck;
using Qfex.Errors;
using Qfex.Protocol;
using Xunit;

namespace Qfex.Tests
{
    /// <summary>
    /// Property-based tests (CsCheck) of the frame parser, the error-envelope mapping, redaction, the
    /// retry-after hint and PSJson. A failure prints a seed: re-run with <c>seed:</c> to reproduce it.
    /// <para>
    /// The tests at the end pin bugs these properties found (lone-surrogate escapes, PowerShell's reserved
    /// member names, empty keys, tiny numbers, a slow retry-hint pattern).
    /// </para>
    /// </summary>
    public class PropertyTests
    {
        // ------------------------------------------------------------------ a JSON model for generators

        internal abstract class J { }
        internal sealed class JNull : J { }
        internal sealed class JBool : J { internal JBool(bool v) => V = v; internal bool V { get; } }
        internal sealed class JStr : J { internal JStr(string v) => V = v; internal string V { get; } }
        internal sealed class JArr : J { internal JArr(J[] items) => Items = items; internal J[] Items { get; } }

        internal sealed class JObj : J
        {
            internal JObj((string Key, J Value)[] props) => Props = props;
            internal (string Key, J Value)[] Props { get; }
        }

        /// <summary>A number as written on the wire, with the value and CLR type the module must give it.</summary>
        internal sealed class JNum : J
        {
            internal JNum(string literal, object expected)
            {
                Literal = literal;
                Expected = expected;
            }

            internal string Literal { get; }
            internal object Expected { get; }
        }

        private static readonly string[] SecretNames =
        {
            "signature", "nonce", "jwt", "secret", "secret_key", "api_secret", "apisecret", "password", "token",
            "access_token", "refresh_token", "x-qfex-hmac-signature", "x-qfex-nonce", "authorization",
        };

        private static readonly string[] ReservedMemberNames = { "psobject", "psbase", "psadapted", "psextended", "pstypenames" };

        private static readonly Gen<char> SafeChar = Gen.Char.Where(c => !char.IsSurrogate(c));

        /// <summary>Strings: alphanumeric, any BMP character but lone surrogates, and awkward constants.</summary>
        private static readonly Gen<string> Text = Gen.Frequency(
            (3, Gen.Char.AlphaNumeric.Array[0, 10].Select(a => new string(a))),
            (2, SafeChar.Array[0, 8].Select(a => new string(a))),
            (1, Gen.OneOf("😀x", "€", "\"q\"", "back\\slash", "line\nbreak", "\u0000", "é", "S p a c e", "retry after 200ms", "\u2028")));

        private static readonly Gen<string> SecretName =
            Gen.OneOf(SecretNames).SelectMany(name => Gen.Bool.Array[name.Length]
                .Select(upper => new string(name.Select((c, i) => upper[i] ? char.ToUpperInvariant(c) : c).ToArray())));

        private static readonly Gen<string> Key = Gen.Frequency(
            (2, SecretName),
            (3, Gen.OneOf("type", "params", "symbol", "price", "quantity", "side", "hmac", "public_key", "unix_ts", "account_id", "order_id", "limit")),
            (2, Text.Where(k => k.Length > 0 && !IsReservedMemberName(k))));

        private static readonly Gen<J> Number = Gen.Frequency(
            // Integers: [long].
            (3, Gen.Long.Select(l => (J)new JNum(l.ToString(CultureInfo.InvariantCulture), l))),
            // Decimal fractions (prices, quantities): [decimal], same value.
            (3, Gen.Select(Gen.Long[-999_999_999_999_999L, 999_999_999_999_999L], Gen.Int[1, 12], (m, scale) =>
            {
                long abs = Math.Abs(m);
                decimal d = new decimal(unchecked((int)(abs & 0xFFFFFFFF)), (int)(abs >> 32), 0, m < 0, (byte)scale);
                string literal = d.ToString(CultureInfo.InvariantCulture);
                return (J)new JNum(literal, d);
            })),
            // Integers beyond [long]: [decimal].
            (1, Gen.Long[0, long.MaxValue].Select(l =>
            {
                decimal d = (decimal)long.MaxValue + 1m + l;
                return (J)new JNum(d.ToString(CultureInfo.InvariantCulture), d);
            })),
            // Exponent notation inside decimal's range: [decimal].
            (1, Gen.Select(Gen.Int[-999, 999], Gen.Int[-8, 8], (m, e) =>
            {
                decimal d = m;
                for (int i = 0; i < Math.Abs(e); i++) d = e > 0 ? d * 10m : d / 10m;
                return (J)new JNum(m.ToString(CultureInfo.InvariantCulture) + "e" + e.ToString(CultureInfo.InvariantCulture), d);
            })),
            // Beyond decimal: [double].
            (1, Gen.Select(Gen.Int[1, 9], Gen.Int[30, 300], (m, e) =>
                (J)new JNum(m.ToString(CultureInfo.InvariantCulture) + ".5E+" + e.ToString(CultureInfo.InvariantCulture),
                    double.Parse(m.ToString(CultureInfo.InvariantCulture) + ".5E+" + e.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture)))));

        private static readonly Gen<J> Leaf = Gen.Frequency(
            (1, Gen.Const<J>(new JNull())),
            (1, Gen.Bool.Select(b => (J)new JBool(b))),
            (3, Number),
            (3, Text.Select(s => (J)new JStr(s))));

        private static Gen<J> ObjectOf(Gen<J> child, int min, int max) =>
            Gen.Select(Key, child).Array[min, max]
                .Select(props => (J)new JObj(props.DistinctBy(p => p.Item1, StringComparer.OrdinalIgnoreCase).ToArray()));

        private static Gen<J> Value(int depth)
        {
            if (depth == 0) return Leaf;
            Gen<J> child = Value(depth - 1);
            return Gen.Frequency((4, Leaf), (1, child.Array[0, 4].Select(a => (J)new JArr(a))), (2, ObjectOf(child, 0, 5)));
        }

        private static readonly Gen<J> AnyValue = Value(4);
        private static readonly Gen<J> AnyObject = ObjectOf(Value(3), 0, 6);

        /// <summary>An echoed request: {"type":..,"params":{..}} with nested params, sometimes auth-shaped.</summary>
        private static readonly Gen<J> EchoedRequest = Gen.Select(Gen.OneOf("auth", "add_order", "modify_order", "get_user_trades", "transfer_balance"), AnyObject,
            (type, parameters) => (J)new JObj(new (string, J)[] { ("type", new JStr(type)), ("params", parameters) }));

        // ------------------------------------------------------------------ writing

        private static readonly JsonWriterOptions Escaping = new JsonWriterOptions();
        private static readonly JsonWriterOptions Relaxed = new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

        private static byte[] ToUtf8(J value, bool relaxed)
        {
            using var stream = new MemoryStream();
            using (var writer = new Utf8JsonWriter(stream, relaxed ? Relaxed : Escaping))
                Write(writer, value);
            return stream.ToArray();
        }

        private static void Write(Utf8JsonWriter w, J value)
        {
            switch (value)
            {
                case JNull _: w.WriteNullValue(); break;
                case JBool b: w.WriteBooleanValue(b.V); break;
                case JStr s: w.WriteStringValue(s.V); break;
                case JNum n: w.WriteRawValue(n.Literal); break;
                case JArr a:
                    w.WriteStartArray();
                    foreach (J item in a.Items) Write(w, item);
                    w.WriteEndArray();
                    break;
                case JObj o:
                    w.WriteStartObject();
                    foreach ((string key, J v) in o.Props)
                    {
                        w.WritePropertyName(key);
                        Write(w, v);
                    }
                    w.WriteEndObject();
                    break;
            }
        }

        private static string Show(byte[] bytes) => Encoding.UTF8.GetString(bytes);

        // ------------------------------------------------------------------ checking

        private static bool IsReservedMemberName(string name) => ReservedMemberNames.Contains(name, StringComparer.OrdinalIgnoreCase);

        private static List<FrameContent> Read(byte[] bytes)
        {
            var into = new List<FrameContent>();
            FrameReader.ReadText(bytes, into);
            return into;
        }

        /// <summary>What every result of the reader must look like, for any input.</summary>
        private static void AssertWellFormedResult(List<FrameContent> contents)
        {
            Assert.NotEmpty(contents);
            foreach (FrameContent c in contents)
            {
                Assert.NotNull(c.Raw);
                if (c.MalformedReason != null)
                {
                    Assert.False(string.IsNullOrWhiteSpace(c.MalformedReason));
                    Assert.Equal(FrameReader.MalformedType, c.Type);
                    Assert.Equal(MalformedKind.Unreadable, c.Malformed);
                    Assert.Null(c.Error);
                    // It becomes a QfexMalformedFrame ErrorRecord, TargetObject cut to a sane length.
                    var frame = new QfexFrame(1, c.Type, c.Raw, DateTime.UtcNow, 1) { MalformedReason = c.MalformedReason, Malformed = c.Malformed };
                    ErrorRecord record = ErrorRecords.ForFrame(frame)!;
                    Assert.Equal("QfexMalformedFrame", record.FullyQualifiedErrorId);
                    Assert.Equal(ErrorCategory.InvalidData, record.CategoryInfo.Category);
                    Assert.True(((string)record.TargetObject).Length <= FrameReader.MaxTargetChars);
                    continue;
                }

                Assert.NotNull(c.Type);
                Assert.Equal(MalformedKind.None, c.Malformed);
                using (JsonDocument doc = JsonDocument.Parse(c.Raw))
                    Assert.Equal(JsonValueKind.Object, doc.RootElement.ValueKind);
                if (c.Error != null)
                {
                    Assert.Equal(FrameReader.ErrorType, c.Type);
                    Assert.False(string.IsNullOrEmpty(c.Error.Code));
                    var frame = new QfexFrame(1, c.Type, c.Raw, DateTime.UtcNow, 1) { Error = c.Error };
                    Assert.IsAssignableFrom<QfexServerErrorException>(ErrorRecords.ForFrame(frame)!.Exception);
                }
                else
                {
                    // A frame the reader accepted must be readable by the user.
                    var frame = new QfexFrame(1, c.Type, c.Raw, DateTime.UtcNow, 1);
                    Assert.IsType<PSObject>(frame.Data);
                    Assert.Null(ErrorRecords.ForFrame(frame));
                }
            }
        }

        /// <summary>
        /// An echoed value against its model: same shape, numbers keep value and type, secrets masked; strings and keys
        /// as shown when <paramref name="shown"/> (issue 18: an echo goes through the one redaction pass, which removes control characters).
        /// </summary>
        private static void AssertEcho(J model, object? actual, string path, bool shown = false)
        {
            switch (model)
            {
                case JNull _:
                    Assert.True(actual == null, path + ": expected null");
                    break;
                case JBool b:
                    Assert.Equal(b.V, Assert.IsType<bool>(actual));
                    break;
                case JStr s:
                    Assert.Equal(shown ? ShownText(s.V) : s.V, Assert.IsType<string>(actual));
                    break;
                case JNum n:
                    Assert.True(actual != null && actual.GetType() == n.Expected.GetType(),
                        $"{path}: {n.Literal} became {actual?.GetType().Name ?? "null"}, expected {n.Expected.GetType().Name}");
                    Assert.True(n.Expected.Equals(actual), $"{path}: {n.Literal} became {actual}, expected {n.Expected}");
                    break;
                case JArr a:
                    var items = Assert.IsType<object?[]>(actual);
                    Assert.Equal(a.Items.Length, items.Length);
                    for (int i = 0; i < items.Length; i++) AssertEcho(a.Items[i], items[i], $"{path}[{i}]", shown);
                    break;
                case JObj o:
                    // An echoed request (the top level of an error frame's incoming_message) is kept as redacted text until read.
                    var pso = Assert.IsType<PSObject>(path == "incoming_message" && shown ? Assert.IsType<QfexEcho>(actual).Value : actual);
                    PSPropertyInfo[] properties = pso.Properties.ToArray();
                    Assert.Equal(o.Props.Select(p => shown ? ShownKey(p.Key) : p.Key), properties.Select(p => p.Name));
                    for (int i = 0; i < properties.Length; i++)
                    {
                        (string rawKey, J value) = o.Props[i];
                        string key = shown ? ShownKey(rawKey) : rawKey;
                        if (Redaction.IsSecretName(key) && !(value is JNull))
                            Assert.True(Redaction.Mask.Equals(properties[i].Value), $"{path}.{key} is not redacted: {properties[i].Value}");
                        else
                            AssertEcho(value, properties[i].Value, path + "." + key, shown);
                    }
                    break;
            }
        }

        /// <summary>A string of an echo as the user sees it: through the one redaction pass (multi-line text).</summary>
        private static string ShownText(string text) => Redaction.Clean(text, shape: TextShape.MultiLine);

        /// <summary>A key of an echo as the user sees it: without control characters (a key that has none is as sent).</summary>
        private static string ShownKey(string key) => key.Any(Redaction.IsUnsafeCharacter) ? PSJson.SafeName(Redaction.Clean(key)) : key;

        // ------------------------------------------------------------------ the frame parser

        private static readonly string[] JsonTokens =
        {
            "{", "}", "[", "]", ":", ",", " ", "\"type\"", "\"err\"", "\"error\"", "\"ERR\"", "\"error_code\"", "\"message\"",
            "\"incoming_message\"", "\"params\"", "\"signature\"", "\"x\"", "\" \"", "\"\\n\"", "\"\\u00e9\"", "1", "-0.5", "1e400",
            "-1e-400", "123456789012345678901234567890", "true", "false", "null", "\"", "\\", "\u00ff", "\uFEFF",
        };

        [Fact]
        public void ReadTextOnAnyBytesNeverThrowsAndYieldsFramesOrAMalformedResultWithAReason()
        {
            Gen<byte[]> bytes = Gen.Frequency(
                (2, Gen.Byte.Array[0, 600]),
                (2, Gen.Char["{}[]\":,0123456789.-+eEtrufalsn \\/abxyz_\t\r\n"].Array[0, 80].Select(a => Encoding.UTF8.GetBytes(a))),
                (3, Gen.OneOf(JsonTokens).Array[0, 40].Select(t => Encoding.UTF8.GetBytes(string.Concat(t)))));
            bytes
                .Sample(b => AssertWellFormedResult(Read(b)), iter: 20_000, print: Show);
        }

        [Fact]
        public void ReadBinaryOnAnyBytesIsAlwaysAMalformedFrameWithAReason()
        {
            Gen.Byte.Array[0, 10_000].Sample(b =>
            {
                FrameContent c = FrameReader.ReadBinary(b);
                Assert.Equal(FrameReader.MalformedType, c.Type);
                Assert.Equal(MalformedKind.Unreadable, c.Malformed);
                Assert.Contains("binary", c.MalformedReason);
                Assert.Contains(b.Length.ToString(CultureInfo.InvariantCulture), c.MalformedReason);
                Assert.True(c.Raw.Length <= FrameReader.MaxTargetChars);
            }, iter: 2_000);
        }

        [Fact]
        public void AnyJsonObjectIsOneFrameWithItsTextAndItsTypeAndAnyArrayOfObjectsIsSplitInOrder()
        {
            Gen.Select(AnyObject, Gen.Bool).Sample((value, relaxed) =>
            {
                byte[] bytes = ToUtf8(value, relaxed);
                List<FrameContent> contents = Read(bytes);
                AssertWellFormedResult(contents);
                FrameContent c = Assert.Single(contents);
                if (c.MalformedReason != null)
                    // Only an error-shaped object without a usable error_code may be malformed.
                    Assert.True(((JObj)value).Props.Any(p => p.Key == "err" || p.Key == "type"), c.MalformedReason);
                else
                    Assert.Equal(Encoding.UTF8.GetString(bytes), c.Raw);

                var o = (JObj)value;
                if (c.Error == null && c.MalformedReason == null)
                {
                    string? type = o.Props.Where(p => p.Key == "type" && p.Value is JStr).Select(p => ((JStr)p.Value).V).LastOrDefault();
                    Assert.Equal(type ?? (o.Props.Length > 0 ? o.Props[0].Key : "empty"), c.Type);
                }
            }, iter: 3_000, print: t => Show(ToUtf8(t.Item1, t.Item2)));

            AnyObject.Array[1, 6].Sample(items =>
            {
                byte[] bytes = ToUtf8(new JArr(items), false);
                List<FrameContent> contents = Read(bytes);
                AssertWellFormedResult(contents);
                if (contents.Count == 1 && contents[0].MalformedReason != null) return;
                Assert.Equal(items.Length, contents.Count);
                for (int i = 0; i < items.Length; i++)
                    Assert.Equal(Show(ToUtf8(items[i], false)), contents[i].Raw);
            }, iter: 1_000);
        }

        /// <summary>Valid frames of every kind, then damaged: truncated, bytes flipped, inserted or deleted.</summary>
        [Fact]
        public void MutatedValidFramesNeverThrow()
        {
            Gen<byte[]> valid = Gen.Frequency(
                (3, ErrorFrames.Select(f => f.Bytes)),
                (2, Gen.Select(AnyObject, Gen.Bool).Select(t => ToUtf8(t.Item1, t.Item2))),
                (1, AnyValue.Select(v => ToUtf8(v, true))),
                (1, AnyObject.Array[0, 4].Select(a => ToUtf8(new JArr(a), false))));

            Gen<byte[]> mutated = valid.SelectMany(bytes => Gen.Int[0, 3].SelectMany(kind => Gen.Select(Gen.Int[0, Math.Max(0, bytes.Length - 1)], Gen.Byte, Gen.Int[1, 4], (at, b, n) =>
            {
                var list = bytes.ToList();
                switch (kind)
                {
                    case 0: return bytes.Take(at).ToArray(); // truncated
                    case 1: // flipped
                        for (int k = 0; k < n && list.Count > 0; k++) list[(at + k * 7) % list.Count] = (byte)(b + k);
                        return list.ToArray();
                    case 2: // inserted
                        list.InsertRange(Math.Min(at, list.Count), Enumerable.Repeat(b, n));
                        return list.ToArray();
                    default: // deleted
                        if (list.Count > 0) list.RemoveRange(at, Math.Min(n, list.Count - at));
                        return list.ToArray();
                }
            })));

            mutated.Sample(b => AssertWellFormedResult(Read(b)), iter: 20_000, print: Show);
        }

        // ------------------------------------------------------------------ the frame parser's fast path

        /// <summary>Plain ASCII frames (alphanumeric strings, no escapes): the ones PlainFrameScan reads itself.</summary>
        private static readonly Gen<J> PlainLeaf = Gen.Frequency(
            (1, Gen.Const<J>(new JNull())),
            (1, Gen.Bool.Select(b => (J)new JBool(b))),
            (3, Number),
            (3, Gen.Char.AlphaNumeric.Array[0, 10].Select(a => (J)new JStr(new string(a)))));

        private static readonly Gen<string> PlainKey = Gen.Frequency(
            (3, Gen.OneOf("type", "Type", "TYPE", "err", "Err", "data", "params", "symbol", "price", "order_response", "error", "error_code")),
            (2, Gen.Char.AlphaNumeric.Array[0, 8].Select(a => new string(a))));

        private static Gen<J> PlainValue(int depth)
        {
            if (depth == 0) return PlainLeaf;
            Gen<J> child = PlainValue(depth - 1);
            return Gen.Frequency((4, PlainLeaf), (1, child.Array[0, 4].Select(a => (J)new JArr(a))),
                (2, Gen.Select(PlainKey, child).Array[0, 5].Select(p => (J)new JObj(p))));
        }

        /// <summary>A plain object, sometimes with a "type" key (in any case, any value) first or later, like a stream's frames.</summary>
        private static readonly Gen<J> PlainObject = Gen.Select(PlainKey, PlainValue(3)).Array[0, 7].Select(p => (J)new JObj(p));

        /// <summary>Text a byte or a few away from a plain frame: deleted, inserted, replaced, cut, white space added.</summary>
        private static readonly Gen<byte[]> NearlyPlainFrame = Gen.Select(PlainObject, Gen.Int[0, 5], Gen.Int.Array[6], Gen.Char["{}[]\":,.-+eE0123456789tfnaulrsx \t\r\n\\\u0001\u007f\u00e9"].Array[6],
            (value, edits, positions, chars) =>
            {
                var text = new StringBuilder(Encoding.UTF8.GetString(ToUtf8(value, relaxed: true)));
                for (int e = 0; e < edits && text.Length > 0; e++)
                {
                    int at = (int)((uint)positions[e] % (uint)text.Length);
                    switch ((uint)positions[e] % 5)
                    {
                        case 0: text.Remove(at, 1); break;
                        case 1: text.Insert(at, chars[e]); break;
                        case 2: text[at] = chars[e]; break;
                        case 3: text.Length = at; break;
                        default: text.Insert(at, ' '); break;
                    }
                }
                return Encoding.UTF8.GetBytes(text.ToString());
            });

        /// <summary>Two frame lists alike in everything a frame is built from.</summary>
        private static void AssertSameFrames(List<FrameContent> expected, List<FrameContent> actual, byte[] input)
        {
            Assert.True(expected.Count == actual.Count, Show(input));
            for (int i = 0; i < expected.Count; i++)
            {
                FrameContent e = expected[i], a = actual[i];
                Assert.True(e.Type == a.Type, $"type {a.Type} instead of {e.Type}: {Show(input)}");
                Assert.True(e.Raw == a.Raw, Show(input));
                Assert.True(e.MalformedReason == a.MalformedReason, $"{a.MalformedReason} instead of {e.MalformedReason}: {Show(input)}");
                Assert.Equal(e.Malformed, a.Malformed);
                Assert.Equal(e.Error == null, a.Error == null);
                Assert.Equal(e.Error?.Code, a.Error?.Code);
                Assert.Equal(e.Error?.Message, a.Error?.Message);
                Assert.Equal(e.Size, a.Size);
            }
        }

        private static List<FrameContent> ReadWithReader(byte[] bytes)
        {
            var into = new List<FrameContent>();
            FrameReader.ReadTextWithReader(bytes, into);
            return into;
        }

        [Fact]
        public void TheFastPathReadsEveryFrameExactlyAsUtf8JsonReaderDoes()
        {
            // Whatever PlainFrameScan accepts must be valid JSON and give the same frame; whatever it refuses goes to the
            // reader, so the two paths must agree on every input, plain, nearly plain (its edge: malformed by a byte) or not.
            int accepted = 0, refused = 0;
            Gen<byte[]> inputs = Gen.Frequency(
                (4, Gen.Select(PlainObject, Gen.Bool).Select((v, relaxed) => ToUtf8(v, relaxed))),
                (4, NearlyPlainFrame),
                (1, Gen.Select(AnyObject, Gen.Bool).Select((v, relaxed) => ToUtf8(v, relaxed))),
                (1, Gen.OneOf(JsonTokens).Array[0, 40].Select(t => Encoding.UTF8.GetBytes(string.Concat(t)))),
                (1, Gen.Byte.Array[0, 200]));
            inputs.Sample(bytes =>
            {
                bool plain = PlainFrameScan.TryScan(bytes, out _);
                if (plain)
                {
                    // Sound: only ASCII text that Utf8JsonReader reads to the end without an error.
                    Assert.True(bytes.All(b => b < 0x80), Show(bytes));
                    var reader = new Utf8JsonReader(bytes, new JsonReaderOptions { MaxDepth = 64 });
                    while (reader.Read()) { }
                    Assert.Equal(bytes.Length, (int)reader.BytesConsumed);   // the last Read consumes trailing white space too
                    Interlocked.Increment(ref accepted);
                }
                else
                {
                    Interlocked.Increment(ref refused);
                }
                AssertSameFrames(ReadWithReader(bytes), Read(bytes), bytes);
            }, iter: 40_000, print: Show);

            // The comparison means something only if both paths were taken often.
            Assert.True(accepted > 10_000, $"the fast path took {accepted} inputs");
            Assert.True(refused > 10_000, $"the reader took {refused} inputs");
        }

        [Theory]
        [InlineData("{\"type\":\"trade\",\"data\":{\"symbol\":\"AAPL-USD\",\"price\":\"201.25\",\"ts\":1764460800123,\"id\":-1.5e-3}}", true)]
        [InlineData(" {} ", true)]
        [InlineData("{\"a\":[[],{},[1,true,false,null,\"\"]]}", true)]
        [InlineData("{\"t\\u0079pe\":\"x\"}", false)]          // an escape: the reader decides
        [InlineData("{\"type\":\"caf\u00e9\"}", false)]              // not ASCII
        [InlineData("[{\"type\":\"trade\"}]", false)]               // an array: batched frames are the reader's
        [InlineData("{\"a\":01}", false)]
        [InlineData("{\"a\":1.}", false)]
        [InlineData("{\"a\":-}", false)]
        [InlineData("{\"a\":1e}", false)]
        [InlineData("{\"a\":tru}", false)]
        [InlineData("{\"a\":nulls}", false)]
        [InlineData("{\"a\":1,}", false)]
        [InlineData("{\"a\" 1}", false)]
        [InlineData("{\"a\":[1}", false)]
        [InlineData("{\"a\":{]}", false)]
        [InlineData("{} {}", false)]
        [InlineData("{\"a\":\"x\u0001\"}", false)]                  // a control character in a string
        [InlineData("", false)]
        public void PlainFrameScanAcceptsOnlyPlainValidObjects(string text, bool accepted)
        {
            byte[] bytes = Encoding.UTF8.GetBytes(text);
            Assert.Equal(accepted, PlainFrameScan.TryScan(bytes, out _));
            AssertSameFrames(ReadWithReader(bytes), Read(bytes), bytes);
        }

        [Fact]
        public void PlainFrameScanLeavesNestingDeeperThan32ToTheReader()
        {
            static byte[] Nested(int depth) => Encoding.UTF8.GetBytes("{\"a\":" + new string('[', depth - 1) + new string(']', depth - 1) + "}");
            Assert.True(PlainFrameScan.TryScan(Nested(32), out _));
            Assert.False(PlainFrameScan.TryScan(Nested(33), out _));
            foreach (int depth in new[] { 32, 33, 64, 65 })
                AssertSameFrames(ReadWithReader(Nested(depth)), Read(Nested(depth)), Nested(depth));
        }

        // ------------------------------------------------------------------ error envelopes

        internal sealed class ErrorFrameCase
        {
            internal bool Wrapped;
            internal string Code = "";
            internal int MessageKind; // 0 string, 1 null, 2 absent
            internal string Message = "";
            internal int IncomingKind; // 0 request object, 1 null, 2 absent, 3 any other value
            internal J Incoming = new JNull();
            internal bool Relaxed;
            internal byte[] Bytes = Array.Empty<byte>();

            internal string? ExpectedMessage => MessageKind == 0 ? Message : null;

            public override string ToString() => Encoding.UTF8.GetString(Bytes);
        }

        private static readonly string[] KnownCodes =
        {
            "RateLimited", "InvalidJSONFormat", "InvalidParameter", "InvalidOrder", "PermissionDenied", "TncRequired", "KycRequired",
            "AlreadyAuthenticated", "AlreadySubscribedToLeaderboard", "ServerError",
        };

        private static readonly Gen<ErrorFrameCase> ErrorFrames =
            Gen.Select(
                Gen.Select(Gen.Bool, Gen.Frequency((2, Gen.OneOf(KnownCodes.Concat(new[] { "FAILED_MARGIN_CHECK", "error", "rate_limited" }).ToArray())), (3, Text.Where(s => s.Length > 0))), Gen.Int[0, 2], Text),
                Gen.Select(Gen.Int[0, 3], EchoedRequest, AnyValue, Gen.Bool),
                Gen.Select(Gen.OneOf("error", "err", "Error", "ERROR"), Gen.Int[0, 1000], Gen.Bool),
                (a, b, c) =>
                {
                    var f = new ErrorFrameCase
                    {
                        Wrapped = a.Item1, Code = a.Item2, MessageKind = a.Item3, Message = a.Item4,
                        IncomingKind = b.Item1, Incoming = b.Item1 == 0 ? b.Item2 : b.Item1 == 3 ? b.Item3 : new JNull(), Relaxed = b.Item4,
                    };
                    var body = new List<(string, J)> { ("error_code", new JStr(f.Code)) };
                    if (f.MessageKind == 0) body.Add(("message", new JStr(f.Message)));
                    if (f.MessageKind == 1) body.Add(("message", new JNull()));
                    if (f.IncomingKind != 2) body.Add(("incoming_message", f.Incoming));
                    // Members in any order; the flat shape's "type" anywhere among them.
                    if (!f.Wrapped) body.Add(("type", new JStr(c.Item1)));
                    int rotate = c.Item2 % body.Count;
                    body = body.Skip(rotate).Concat(body.Take(rotate)).ToList();
                    J root = f.Wrapped
                        ? new JObj(c.Item3 ? new (string, J)[] { ("err", new JObj(body.ToArray())), ("ts", new JNum("1760545414", 1760545414L)) } : new (string, J)[] { ("err", new JObj(body.ToArray())) })
                        : new JObj(body.ToArray());
                    f.Bytes = ToUtf8(root, f.Relaxed);
                    return f;
                });

        private static readonly Dictionary<string, (ErrorCategory Category, Type Exception)> ContractTable = new Dictionary<string, (ErrorCategory, Type)>
        {
            ["RateLimited"] = (ErrorCategory.QuotaExceeded, typeof(QfexRateLimitedException)),
            ["InvalidJSONFormat"] = (ErrorCategory.ParserError, typeof(QfexInvalidRequestException)),
            ["InvalidParameter"] = (ErrorCategory.InvalidArgument, typeof(QfexInvalidRequestException)),
            ["InvalidOrder"] = (ErrorCategory.InvalidData, typeof(QfexInvalidRequestException)),
            ["PermissionDenied"] = (ErrorCategory.PermissionDenied, typeof(QfexPermissionException)),
            ["TncRequired"] = (ErrorCategory.PermissionDenied, typeof(QfexPermissionException)),
            ["KycRequired"] = (ErrorCategory.PermissionDenied, typeof(QfexPermissionException)),
            ["AlreadyAuthenticated"] = (ErrorCategory.InvalidOperation, typeof(QfexStateException)),
            ["AlreadySubscribedToLeaderboard"] = (ErrorCategory.ResourceExists, typeof(QfexStateException)),
            ["ServerError"] = (ErrorCategory.ResourceUnavailable, typeof(QfexServerFaultException)),
        };

        [Fact]
        public void AnyValidErrorEnvelopeRoundTripsCodeMessageAndEchoWithSecretsRedacted()
        {
            ErrorFrames.Sample(f =>
            {
                List<FrameContent> contents = Read(f.Bytes);
                AssertWellFormedResult(contents);
                FrameContent c = Assert.Single(contents);
                Assert.Null(c.MalformedReason);
                Assert.Equal("error", c.Type);
                ErrorEnvelope envelope = Assert.IsType<ErrorEnvelope>(c.Error);
                // The code and message as shown (issue 18): the one redaction pass removes control characters (a code
                // shows them as escapes, so it never becomes empty); anything else arrives as sent.
                string code = Redaction.Clean(f.Code, shape: TextShape.Identifier);
                string? expectedMessage = f.ExpectedMessage == null ? null : ShownText(f.ExpectedMessage);
                Assert.Equal(code, envelope.Code);
                Assert.Equal(expectedMessage, envelope.Message);
                if (f.IncomingKind == 2) Assert.Null(envelope.Incoming);
                else AssertEcho(f.Incoming, envelope.Incoming, "incoming_message", shown: true);

                // The ErrorRecord the user gets.
                DateTime at = DateTime.UtcNow;
                ErrorRecord record = ErrorRecords.ForErrorFrame(envelope, 42, at);
                Assert.Equal(code, record.FullyQualifiedErrorId);
                var exception = Assert.IsAssignableFrom<QfexServerErrorException>(record.Exception);
                (ErrorCategory category, Type type) = ContractTable.TryGetValue(f.Code, out var row) ? row : (ErrorCategory.NotSpecified, typeof(QfexServerErrorException));
                Assert.Equal(type, exception.GetType());
                Assert.Equal(category, record.CategoryInfo.Category);
                Assert.Equal(type.Name, record.CategoryInfo.Reason);
                Assert.Equal(code, exception.ErrorCode);
                Assert.Equal(expectedMessage, exception.ServerMessage);
                Assert.Equal(42, exception.Sequence);
                Assert.Equal(at, exception.ReceivedAt);
                Assert.Same(envelope.Incoming, record.TargetObject);
                // An echoed request is kept as text until read; the exception's IncomingMessage is its one PSObject.
                Assert.Same(envelope.Incoming is QfexEcho echo ? echo.Value : envelope.Incoming, exception.IncomingMessage);
                // The code, then the server's message as sent, or a clear text when it sent none (the console's
                // ConciseView shows ErrorDetails.Message, so the code is on screen).
                if (!string.IsNullOrWhiteSpace(expectedMessage)) Assert.Equal(code + ": " + expectedMessage, record.ErrorDetails.Message);
                else Assert.StartsWith(code + ": ", record.ErrorDetails.Message);
                Assert.False(string.IsNullOrWhiteSpace(record.ErrorDetails.Message.Substring(code.Length + 1)));
                Assert.False(string.IsNullOrEmpty(record.ErrorDetails.RecommendedAction));
            }, iter: 5_000, print: f => f.ToString());
        }

        [Fact]
        public void SecretNamedKeysAreRedactedAtAnyDepthWhateverTheirValue()
        {
            // Secrets planted under secret-named keys at random depths; the marker must never come back.
            const string Marker = "PLANTED-SECRET";
            Gen<J> secretValue = Gen.Frequency(
                (3, Gen.Int.Select(i => (J)new JStr(Marker + i))),
                (1, Gen.Const<J>(new JObj(new (string, J)[] { ("inner", new JStr(Marker)) }))),
                (1, Gen.Const<J>(new JArr(new J[] { new JStr(Marker), new JNum("1", 1L) }))));
            Gen<J> Nest(int depth) => depth == 0
                ? Gen.Select(SecretName, secretValue, (k, v) => (J)new JObj(new (string, J)[] { (k, v) }))
                : Gen.Select(Gen.OneOf("params", "hmac", "a", "list"), Nest(depth - 1), Gen.Bool,
                    (k, inner, inArray) => (J)new JObj(new (string, J)[] { (k, inArray ? new JArr(new[] { new JNull(), inner }) : inner) }));
            Gen<J> planted = Gen.Int[0, 12].SelectMany(Nest);

            Gen.Select(planted, Gen.Bool).Sample((incoming, wrapped) =>
            {
                var root = new JObj(wrapped
                    ? new (string, J)[] { ("err", new JObj(new (string, J)[] { ("error_code", new JStr("AlreadyAuthenticated")), ("incoming_message", incoming) })) }
                    : new (string, J)[] { ("type", new JStr("error")), ("error_code", new JStr("AlreadyAuthenticated")), ("incoming_message", incoming) });
                FrameContent c = Assert.Single(Read(ToUtf8(root, false)));
                AssertEcho(incoming, c.Error!.Incoming, "incoming_message", shown: true);
                ErrorRecord record = ErrorRecords.ForErrorFrame(c.Error!, 1, DateTime.UtcNow);
                Assert.DoesNotContain(Marker, PSJson.Serialize(record.TargetObject));
                Assert.DoesNotContain(Marker, record.Exception.ToString());
                Assert.DoesNotContain(Marker, record.ErrorDetails.Message + record.ErrorDetails.RecommendedAction);
            }, iter: 3_000);
        }

        // ------------------------------------------------------------------ retry-after hints

        private static readonly string[] HintTokens =
        {
            "retry", "Retry", "RETRY", "-", "_", " ", "\t", "after", "in", "ms", "s", "sec", "seconds", "m", "min", "minutes", "millis",
            ":", "=", "0", "1", "2", "5", "9", "00", ".", ",", "\u0663", "x", "Please", "Retry-After", "retry_after_ms", "hours", "\u00a0",
        };

        [Fact]
        public void RetryAfterHintNeverThrowsAndIsNullOrWithinTenMinutes()
        {
            Gen<string> text = Gen.Frequency(
                (2, Gen.String),
                (1, SafeChar.Array[0, 100].Select(a => new string(a))),
                (4, Gen.OneOf(HintTokens).Array[0, 16].Select(string.Concat)));
            text.Sample(s =>
            {
                TimeSpan? hint = RetryAfterHint.Parse(s);
                Assert.True(hint == null || (hint.Value >= TimeSpan.Zero && hint.Value <= TimeSpan.FromMinutes(10)), $"{hint} for '{s}'");
            }, iter: 20_000);
            Assert.Null(RetryAfterHint.Parse(null));
        }

        [Fact]
        public void RetryAfterHintReadsTheDocumentedFormsExactly()
        {
            Gen.Select(Gen.Int[0, 700_000], Gen.OneOf("Please retry after {0}ms.", "retry after {0} ms", "Retry-After: {0}ms", "retry_after_ms={0}")).Sample((ms, format) =>
            {
                TimeSpan? hint = RetryAfterHint.Parse(string.Format(CultureInfo.InvariantCulture, format, ms));
                Assert.Equal(ms <= 600_000 ? TimeSpan.FromMilliseconds(ms) : (TimeSpan?)null, hint);
            }, iter: 2_000);
            Gen.Int[0, 900].Sample(s =>
                Assert.Equal(s <= 600 ? TimeSpan.FromSeconds(s) : (TimeSpan?)null, RetryAfterHint.Parse($"retry after {s} seconds")), iter: 500);
        }

        /// <summary>Every unit the hint reader knows, with its length in milliseconds.</summary>
        private static readonly (string Unit, double Ms)[] HintUnits =
        {
            ("ms", 1), ("msec", 1), ("msecs", 1), ("millisecond", 1), ("milliseconds", 1),
            ("s", 1000), ("sec", 1000), ("secs", 1000), ("second", 1000), ("seconds", 1000),
            ("min", 60_000), ("mins", 60_000), ("minute", 60_000), ("minutes", 60_000),
        };

        private static readonly string[] HintLeads =
            { "retry after ", "Please retry after ", "retry in ", "RETRY IN ", "retry ", "Retry-After: ", "retry_after=", "try again in ", "Try again after " };

        [Fact]
        public void RetryAfterHintReadsANumberWithEveryUnitExactly()
        {
            Gen.Select(Gen.Int[0, 99_999], Gen.Int[0, 3], Gen.OneOf(HintUnits), Gen.OneOf(HintLeads), Gen.Bool).Sample((whole, decimals, unit, lead, space) =>
            {
                double n = whole / Math.Pow(10, decimals);
                string number = n.ToString("0.###", CultureInfo.InvariantCulture);
                double ms = Math.Round(n * unit.Ms, 3);
                TimeSpan? expected = ms <= 600_000 ? TimeSpan.FromMilliseconds(ms) : (TimeSpan?)null;
                string message = lead + number + (space ? " " : "") + unit.Unit + ".";
                Assert.True(expected == RetryAfterHint.Parse(message), $"'{message}': expected {expected}, got {RetryAfterHint.Parse(message)}");
            }, iter: 3_000);
        }

        /// <summary>Words a number in an error message may count that are not a time unit (some begin like one).</summary>
        private static readonly string[] NotUnits =
        {
            "times", "attempts", "tries", "orders", "requests", "messages", "msgs", "secrets", "sessions", "symbols", "items",
            "percent", "%", "x", "hours", "h", "days", "m", "mb", "KiB", "per second", "of 5", "more", "order", "minimum", "seconds_ago_id",
        };

        [Fact]
        public void RetryAfterHintIgnoresNumbersThatAreNotDelays()
        {
            // After the word retry, a number without a time unit is not a delay ("please retry 3 times").
            Gen.Select(Gen.Int[0, 100_000], Gen.OneOf(HintLeads), Gen.OneOf(NotUnits), Gen.OneOf("", " ")).Sample((n, lead, word, space) =>
            {
                string message = lead + n.ToString(CultureInfo.InvariantCulture) + space + word + " and wait.";
                Assert.True(RetryAfterHint.Parse(message) == null, $"'{message}' read as {RetryAfterHint.Parse(message)}");
            }, iter: 3_000);

            // A number with a time unit that does not follow the word retry is a window, a duration, not a delay.
            Gen.Select(Gen.Int[0, 1_000], Gen.OneOf(HintUnits), Gen.OneOf(
                    "Limit: {0} requests per 1 {1}.", "You sent too many messages within {0} {1}; slow down.", "The request took {0}{1}.",
                    "Sliding window of {0}{1} exceeded.", "Order {0} rejected after {0} {1}.", "retries: {0} in the last {0}{1}")).Sample((n, unit, format) =>
            {
                string message = string.Format(CultureInfo.InvariantCulture, format, n, unit.Unit);
                Assert.True(RetryAfterHint.Parse(message) == null, $"'{message}' read as {RetryAfterHint.Parse(message)}");
            }, iter: 2_000);
        }

        [Fact]
        public void RetryAfterHintFindsTheDelayAmongOtherNumbers()
        {
            // Noise with numbers and units but no retry word, then the hint: only the hint is read.
            Gen<string> noise = Gen.OneOf("You sent ", "120", " messages in ", "1", " s", " (limit ", "100", "/s", "). ", "Order ", "42", " attempts ", "3", " ").Array[0, 12].Select(string.Concat);
            Gen.Select(noise, Gen.Int[0, 600_000], noise).Sample((before, ms, after) =>
            {
                string message = before + " Please retry after " + ms.ToString(CultureInfo.InvariantCulture) + "ms. " + after;
                Assert.True(TimeSpan.FromMilliseconds(ms) == RetryAfterHint.Parse(message), $"'{message}' read as {RetryAfterHint.Parse(message)}");
            }, iter: 2_000);
        }

        [Fact]
        public void RetryAfterHintReadsTheHttpDateFormRelativeToNow()
        {
            // A fixed instant: the hint is read against it, so no time passes between writing and reading the date.
            var now = new DateTime(2026, 11, 30, 12, 0, 0, DateTimeKind.Utc);
            string At(TimeSpan fromNow) => "Retry-After: " + (now + fromNow).ToString("r", CultureInfo.InvariantCulture);
            Assert.Equal(TimeSpan.FromSeconds(30), RetryAfterHint.Parse(At(TimeSpan.FromSeconds(30)), now, out bool timeDependent));
            Assert.True(timeDependent);
            Assert.Equal(TimeSpan.Zero, RetryAfterHint.Parse(At(TimeSpan.FromMinutes(-1)), now, out _));
            Assert.Null(RetryAfterHint.Parse(At(TimeSpan.FromHours(1)), now, out _));
            // The plain overload reads against the clock: a date far ahead is still refused, one just behind is no wait.
            Assert.Null(RetryAfterHint.Parse("Retry-After: " + DateTime.UtcNow.AddHours(1).ToString("r", CultureInfo.InvariantCulture)));
            Assert.Equal(TimeSpan.Zero, RetryAfterHint.Parse("Retry-After: " + DateTime.UtcNow.AddMinutes(-1).ToString("r", CultureInfo.InvariantCulture)));
        }

        // ------------------------------------------------------------------ PSJson round trip

        /// <summary>A model value as a PowerShell user would hand it over: hashtables, ordered, PSCustomObjects, lists, ints.</summary>
        private static Gen<object?> AsPowerShell(J model)
        {
            switch (model)
            {
                case JNull _: return Gen.Const(() => (object?)null);
                case JBool b: return Gen.Const<object?>(b.V);
                case JStr s: return Gen.Const<object?>(s.V);
                case JNum n when n.Expected is long l:
                    return Gen.Bool.Select(object? (bool small) => small && l >= int.MinValue && l <= int.MaxValue ? (int)l : l);
                case JNum n: return Gen.Const<object?>(n.Expected);
                case JArr a:
                    return Gen.Select(Gen.Bool, All(a.Items.Select(AsPowerShell)),
                        object? (bool asList, object?[] items) => asList ? new List<object?>(items) : items);
                case JObj o:
                    string[] keys = o.Props.Select(p => p.Key).ToArray();
                    return Gen.Select(Gen.Int[0, 3], All(o.Props.Select(p => AsPowerShell(p.Value))),
                        object? (int kind, object?[] values) => BuildObject(kind, keys, values));
                default: throw new InvalidOperationException();
            }
        }

        private static Gen<object?[]> All(IEnumerable<Gen<object?>> gens) =>
            gens.Aggregate(Gen.Const(Array.Empty<object?>()), (acc, g) => acc.SelectMany(xs => g.Select(x => xs.Append(x).ToArray())));

        private static object BuildObject(int kind, string[] keys, object?[] values)
        {
            switch (kind)
            {
                case 0:
                    var ordered = new OrderedDictionary(StringComparer.OrdinalIgnoreCase);
                    for (int i = 0; i < keys.Length; i++) ordered[keys[i]] = values[i];
                    return ordered;
                case 1:
                    var pso = new PSObject();
                    for (int i = 0; i < keys.Length; i++) pso.Properties.Add(new PSNoteProperty(keys[i], values[i]));
                    return pso;
                case 2:
                    var dictionary = new Dictionary<string, object?>(StringComparer.OrdinalIgnoreCase);
                    for (int i = 0; i < keys.Length; i++) dictionary[keys[i]] = values[i];
                    return dictionary;
                default:
                    // A hashtable enumerates in no particular order.
                    var table = new Hashtable(StringComparer.OrdinalIgnoreCase);
                    for (int i = 0; i < keys.Length; i++) table[keys[i]] = values[i];
                    return table;
            }
        }

        /// <summary>Parse(Serialize(x)) against the model; a hashtable's keys may come back in any order.</summary>
        private static void AssertRoundTrip(J model, object? original, object? actual, string path)
        {
            if (model is JObj o && (original is Hashtable))
            {
                var pso = Assert.IsType<PSObject>(actual);
                Assert.Equal(o.Props.Select(p => p.Key).OrderBy(k => k, StringComparer.Ordinal), pso.Properties.Select(p => p.Name).OrderBy(k => k, StringComparer.Ordinal));
                var table = (Hashtable)original;
                foreach ((string key, J value) in o.Props)
                    AssertRoundTrip(value, table[key], pso.Properties[key].Value, path + "." + key);
                return;
            }
            if (model is JObj obj)
            {
                var pso = Assert.IsType<PSObject>(actual);
                Assert.Equal(obj.Props.Select(p => p.Key), pso.Properties.Select(p => p.Name));
                object?[] originals = original switch
                {
                    OrderedDictionary od => od.Values.Cast<object?>().ToArray(),
                    PSObject p => p.Properties.Select(x => x.Value).ToArray(),
                    Dictionary<string, object?> d => d.Values.ToArray(),
                    _ => throw new InvalidOperationException(),
                };
                for (int i = 0; i < obj.Props.Length; i++)
                    AssertRoundTrip(obj.Props[i].Value, originals[i], pso.Properties[obj.Props[i].Key].Value, path + "." + obj.Props[i].Key);
                return;
            }
            if (model is JArr a)
            {
                var items = Assert.IsType<object?[]>(actual);
                object?[] originals = original is List<object?> list ? list.ToArray() : (object?[])original!;
                Assert.Equal(a.Items.Length, items.Length);
                for (int i = 0; i < items.Length; i++) AssertRoundTrip(a.Items[i], originals[i], items[i], $"{path}[{i}]");
                return;
            }
            if (model is JNum)
            {
                // What Serialize writes decides the type: an integral decimal or int comes back as [long].
                object expected = original switch
                {
                    int i => (long)i,
                    decimal m when m.Scale == 0 && m >= long.MinValue && m <= long.MaxValue => (long)m,
                    _ => original!,
                };
                Assert.True(actual != null && actual.GetType() == expected.GetType() && expected.Equals(actual),
                    $"{path}: {original} ({original?.GetType().Name}) came back as {actual} ({actual?.GetType().Name})");
                return;
            }
            AssertEcho(model, actual, path);
        }

        [Fact]
        public void PSJsonSerializeThenParseRoundTripsGeneratedValues()
        {
            AnyValue.SelectMany(model => AsPowerShell(model).Select(value => (model, value))).Sample(t =>
            {
                string json = PSJson.Serialize(t.value);
                byte[] bytes = Encoding.UTF8.GetBytes(json);
                AssertRoundTrip(t.model, t.value, PSJson.Parse(json), "$");
                // Serialising what Parse gave is stable.
                Assert.Equal(json, PSJson.Serialize(PSJson.Parse(json)));
            }, iter: 5_000, print: t => PSJson.Serialize(t.value));
        }

        [Fact]
        public void PSJsonDoublesComeBackWithTheirValue()
        {
            // Doubles a user may send (prices, sizes); magnitudes below 1e-10 are covered by the tiny-number bug test.
            Gen.Double.Where(d => !double.IsNaN(d) && !double.IsInfinity(d) && (d == 0 || Math.Abs(d) >= 1e-10)).Sample(d =>
            {
                object? back = PSJson.Parse(PSJson.Serialize(d));
                double value = back switch
                {
                    long l => l,
                    decimal m => double.Parse(m.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture),
                    double x => x,
                    _ => throw new Xunit.Sdk.XunitException($"{d} came back as {back?.GetType().Name}"),
                };
                Assert.Equal(d, value);
            }, iter: 20_000);
        }

        // ------------------------------------------------------------------ bugs found here, now fixed

        [Fact]
        public void LoneSurrogateEscapesAreMalformedOrReadableNeverAnException()
        {
            foreach (string json in new[]
            {
                "{\"\\ud800\":1}", "{\"type\":\"\\ud800\"}", "[{\"type\":\"\\udfff\"}]", "{\"type\":\"x\",\"a\":\"\\ud800\"}",
                "{\"err\":{\"error_code\":\"\\udc00\"}}", "{\"err\":{\"error_code\":\"X\",\"message\":\"\\ud800\"}}",
                "{\"err\":{\"error_code\":\"X\",\"incoming_message\":{\"a\":\"\\ud800\"}}}",
            })
                AssertWellFormedResult(Read(Encoding.UTF8.GetBytes(json)));

            Gen.Select(ErrorFrames, Gen.Int[0xD800, 0xDFFF]).Sample((f, surrogate) =>
            {
                string text = Encoding.UTF8.GetString(f.Bytes);
                int at = text.IndexOf("\"error_code\":\"", StringComparison.Ordinal) + 14;
                AssertWellFormedResult(Read(Encoding.UTF8.GetBytes(text.Insert(at, "\\u" + surrogate.ToString("x4", CultureInfo.InvariantCulture)))));
            }, iter: 500);
        }

        [Fact]
        public void ReservedPowerShellMemberNamesInAFrameNeverThrow()
        {
            foreach (string name in ReservedMemberNames.Concat(new[] { "PSObject", "PSBase" }))
            {
                AssertWellFormedResult(Read(Encoding.UTF8.GetBytes("{\"err\":{\"error_code\":\"InvalidParameter\",\"incoming_message\":{\"type\":\"add_order\",\"params\":{\"" + name + "\":1}}}}")));
                AssertWellFormedResult(Read(Encoding.UTF8.GetBytes("{\"type\":\"x\",\"" + name + "\":1}")));
            }
        }

        [Fact]
        public void AnEmptyKeyIsValidJsonAndKeepsTheErrorCode()
        {
            List<FrameContent> contents = Read(Encoding.UTF8.GetBytes(
                "{\"err\":{\"error_code\":\"InvalidParameter\",\"message\":\"bad key\",\"incoming_message\":{\"type\":\"add_order\",\"params\":{\"\":1}}}}"));
            FrameContent c = Assert.Single(contents);
            Assert.Null(c.MalformedReason);
            Assert.Equal("InvalidParameter", c.Error!.Code);
            AssertWellFormedResult(Read(Encoding.UTF8.GetBytes("{\"type\":\"x\",\"\":1}")));
        }

        [Fact]
        public void TinyNumbersKeepTheirValue()
        {
            foreach (string literal in new[] { "1e-30", "5e-324", "-2.5e-29", "0.000000000000000000000000000001" })
            {
                object? value = PSJson.Parse(literal);
                double expected = double.Parse(literal, CultureInfo.InvariantCulture);
                double actual = value is decimal m ? (double)m : Convert.ToDouble(value, CultureInfo.InvariantCulture);
                Assert.True(actual == expected, $"{literal} became {value} ({value?.GetType().Name})");
            }
        }

        [Fact(Timeout = 30_000)]
        public async Task RetryAfterHintReadsAHintBehindALongRunOfSeparators()
        {
            // A run of spaces between "retry" and a number once cost cubic time. The hint behind such a run (within
            // the 2 KiB the parser reads) is found: a parser that backtracked would hit its match timeout and read
            // nothing. The Timeout is a hang guard, not a measurement.
            string message = "Please retry" + new string(' ', 1900) + "later; retry after 250 ms.";
            Assert.Equal(TimeSpan.FromMilliseconds(250), await Task.Run(() => RetryAfterHint.Parse(message)));
            Assert.Null(await Task.Run(() => RetryAfterHint.Parse("Please retry" + new string(' ', 4096) + "later.")));
        }
    }
}
