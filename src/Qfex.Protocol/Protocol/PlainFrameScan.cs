using System;

namespace Qfex.Protocol
{
    /// <summary>What <see cref="PlainFrameScan"/> found at the top level of a frame it accepted.</summary>
    internal readonly struct PlainFrameFacts
    {
        internal PlainFrameFacts(int typeStart, int typeLength, int firstKeyStart, int firstKeyLength, bool hasErr)
        {
            TypeStart = typeStart;
            TypeLength = typeLength;
            FirstKeyStart = firstKeyStart;
            FirstKeyLength = firstKeyLength;
            HasErr = hasErr;
        }

        /// <summary>Where the value of the last top-level "type" key (any case) is, when it is a string; -1 otherwise.</summary>
        internal int TypeStart { get; }
        internal int TypeLength { get; }

        /// <summary>Where the first top-level key is; -1 for an empty object.</summary>
        internal int FirstKeyStart { get; }
        internal int FirstKeyLength { get; }

        /// <summary>Whether a top-level key is exactly "err".</summary>
        internal bool HasErr { get; }
    }

    /// <summary>
    /// The receive loop's fast path for the frame a stream is made of: one JSON object in plain ASCII whose
    /// strings have no escapes. It checks the whole frame against the JSON grammar in one pass over the bytes
    /// (about three times faster than Utf8JsonReader token by token, which was a fifth of the loop's work in a
    /// flood) and reads the same top-level facts as FrameReader's reader-based scan.
    /// It is sound, not complete: it accepts only text that is valid JSON (and valid UTF-8, being ASCII) within
    /// a depth of 32, and returns false for anything else it does not handle: an escape, a non-ASCII byte, a
    /// top level that is not an object, deeper nesting, and every malformed frame. The caller then reads the
    /// frame with Utf8JsonReader as before, which decides and words the reason. So a frame it gets wrong can
    /// only be slower, never misread; FrameReaderTests compare the two paths on generated and mutated frames.
    /// </summary>
    internal static class PlainFrameScan
    {
        private const int MaxDepth = 32;

        private enum Expect
        {
            KeyOrEnd,    // just after '{'
            Key,         // after ',' in an object
            ValueOrEnd,  // just after '['
            Value,
            AfterValue,
        }

        internal static bool TryScan(ReadOnlySpan<byte> json, out PlainFrameFacts facts)
        {
            facts = default;
            int typeStart = -1, typeLength = 0, firstKeyStart = -1, firstKeyLength = 0;
            bool hasErr = false;
            bool topKeyIsType = false;

            int i = SkipSpace(json, 0);
            if (i >= json.Length || json[i] != (byte)'{') return false;
            i++;
            int depth = 1;
            uint arrays = 0;                 // bit d-1 set: the container at depth d is an array
            Expect expect = Expect.KeyOrEnd;

            while (true)
            {
                i = SkipSpace(json, i);
                if (i >= json.Length) return false;
                byte b = json[i];
                switch (expect)
                {
                    case Expect.KeyOrEnd:
                    case Expect.Key:
                        if (b == (byte)'}' && expect == Expect.KeyOrEnd)
                        {
                            i++;
                            goto closed;
                        }
                        if (b != (byte)'"') return false;
                        int keyStart = i + 1;
                        i = EndOfString(json, keyStart);
                        if (i < 0) return false;
                        int keyLength = i - keyStart;
                        i = SkipSpace(json, i + 1);
                        if (i >= json.Length || json[i] != (byte)':') return false;
                        i++;
                        if (depth == 1)
                        {
                            ReadOnlySpan<byte> key = json.Slice(keyStart, keyLength);
                            if (firstKeyStart < 0)
                            {
                                firstKeyStart = keyStart;
                                firstKeyLength = keyLength;
                            }
                            topKeyIsType = IsTypeKey(key);
                            if (!topKeyIsType && key.Length == 3 && key[0] == (byte)'e' && key[1] == (byte)'r' && key[2] == (byte)'r') hasErr = true;
                        }
                        expect = Expect.Value;
                        continue;

                    case Expect.ValueOrEnd:
                    case Expect.Value:
                        if (b == (byte)']' && expect == Expect.ValueOrEnd)
                        {
                            i++;
                            goto closed;
                        }
                        bool topValue = depth == 1;
                        if (topValue && topKeyIsType)
                        {
                            // The last "type" key wins; a value that is not a string leaves no type.
                            typeStart = -1;
                            typeLength = 0;
                        }
                        if (b == (byte)'{' || b == (byte)'[')
                        {
                            if (depth == MaxDepth) return false;
                            if (b == (byte)'[') arrays |= 1u << depth;
                            else arrays &= ~(1u << depth);
                            depth++;
                            i++;
                            expect = b == (byte)'{' ? Expect.KeyOrEnd : Expect.ValueOrEnd;
                            continue;
                        }
                        if (b == (byte)'"')
                        {
                            int start = i + 1;
                            i = EndOfString(json, start);
                            if (i < 0) return false;
                            if (topValue && topKeyIsType)
                            {
                                typeStart = start;
                                typeLength = i - start;
                            }
                            i++;
                        }
                        else if (b == (byte)'-' || (b >= (byte)'0' && b <= (byte)'9'))
                        {
                            i = EndOfNumber(json, i);
                            if (i < 0) return false;
                        }
                        else
                        {
                            i = EndOfLiteral(json, i);
                            if (i < 0) return false;
                        }
                        expect = Expect.AfterValue;
                        continue;

                    default: // AfterValue
                        bool inArray = (arrays & (1u << (depth - 1))) != 0;
                        if (b == (byte)',')
                        {
                            i++;
                            expect = inArray ? Expect.Value : Expect.Key;
                            continue;
                        }
                        if (b != (inArray ? (byte)']' : (byte)'}')) return false;
                        i++;
                        goto closed;
                }

            closed:
                depth--;
                if (depth == 0)
                {
                    // Only white space may follow the object.
                    if (SkipSpace(json, i) != json.Length) return false;
                    facts = new PlainFrameFacts(typeStart, typeLength, firstKeyStart, firstKeyLength, hasErr);
                    return true;
                }
                expect = Expect.AfterValue;
            }
        }

        private static int SkipSpace(ReadOnlySpan<byte> json, int i)
        {
            while (i < json.Length)
            {
                byte b = json[i];
                if (b != (byte)' ' && b != (byte)'\n' && b != (byte)'\r' && b != (byte)'\t') break;
                i++;
            }
            return i;
        }

        /// <summary>The index of the closing quote of a string starting at <paramref name="i"/> (after its opening quote); -1 for anything but printable ASCII without escapes.</summary>
        private static int EndOfString(ReadOnlySpan<byte> json, int i)
        {
            for (; i < json.Length; i++)
            {
                byte b = json[i];
                if (b == (byte)'"') return i;
                if (b < 0x20 || b == (byte)'\\' || b >= 0x80) return -1;
            }
            return -1;
        }

        /// <summary>The index after a number in JSON's grammar, -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?; -1 if there is none.</summary>
        private static int EndOfNumber(ReadOnlySpan<byte> json, int i)
        {
            if (json[i] == (byte)'-') i++;
            if (i >= json.Length) return -1;
            if (json[i] == (byte)'0') i++;
            else if (IsDigit(json[i])) i = EndOfDigits(json, i);
            else return -1;

            if (i < json.Length && json[i] == (byte)'.')
            {
                i++;
                if (i >= json.Length || !IsDigit(json[i])) return -1;
                i = EndOfDigits(json, i);
            }
            if (i < json.Length && (json[i] == (byte)'e' || json[i] == (byte)'E'))
            {
                i++;
                if (i < json.Length && (json[i] == (byte)'+' || json[i] == (byte)'-')) i++;
                if (i >= json.Length || !IsDigit(json[i])) return -1;
                i = EndOfDigits(json, i);
            }
            return i;
        }

        private static int EndOfDigits(ReadOnlySpan<byte> json, int i)
        {
            while (i < json.Length && IsDigit(json[i])) i++;
            return i;
        }

        private static bool IsDigit(byte b) => b >= (byte)'0' && b <= (byte)'9';

        private static int EndOfLiteral(ReadOnlySpan<byte> json, int i)
        {
            ReadOnlySpan<byte> rest = json.Slice(i);
            if (rest.StartsWith("true"u8) || rest.StartsWith("null"u8)) return i + 4;
            if (rest.StartsWith("false"u8)) return i + 5;
            return -1;
        }

        /// <summary>An unescaped key that is "type" in any case (FrameReader's reader path reads keys the same way).</summary>
        internal static bool IsTypeKey(ReadOnlySpan<byte> name) =>
            name.Length == 4 && (name[0] | 0x20) == 't' && (name[1] | 0x20) == 'y' && (name[2] | 0x20) == 'p' && (name[3] | 0x20) == 'e';
    }
}
