using System;
using System.Collections;
using System.Collections.Generic;
using System.Management.Automation;
using System.Runtime.InteropServices;
using System.Security;
using System.Text;
using System.Text.RegularExpressions;
using System.Threading;

namespace Qfex.Protocol
{
    /// <summary>How a text is shown, which decides the characters that survive <see cref="Redaction.Clean(string?, SecretLiterals?, TextShape, int)"/>.</summary>
    internal enum TextShape
    {
        /// <summary>One line (a message, a reason, a code, -Debug and -WhatIf text): every control character goes; tab, CR and LF become spaces.</summary>
        Line,

        /// <summary>A text that may span lines (an echo's strings, a malformed frame's text, an exception message): tab and LF stay, CR goes (a lone CR becomes LF), other control characters go.</summary>
        MultiLine,

        /// <summary>
        /// A code or name that must stay recognisable and never become empty (an error code, the ErrorId made from it):
        /// each control character is shown as its escape (\u001B) instead of being removed.
        /// </summary>
        Identifier,

        /// <summary>
        /// A transcript line's text: masked as shown text is and more (nonce-shaped hex, the api_key query value, the
        /// public key when the recorder adds it); every character stays, the line writer escapes them.
        /// </summary>
        Transcript,
    }

    /// <summary>
    /// A session's own secrets as text, for one pass (or one recorder batch): zeroed when disposed. Made by
    /// <see cref="SessionSecrets.Open"/>; literals shorter than <see cref="MinLength"/> are not kept (they would
    /// mask ordinary words).
    /// </summary>
    internal sealed class SecretLiterals : IDisposable
    {
        internal const int MinLength = 8;

        /// <summary>The <see cref="SessionSecrets.Version"/> these were opened at.</summary>
        internal int Version { get; set; }

        private readonly List<char[]> _items;
        private bool _sorted = true;
        private readonly SecretLiterals? _owner;

        internal SecretLiterals()
        {
            _items = new List<char[]>(6);
        }

        /// <summary>A view of <paramref name="owner"/>'s literals for one pass: disposing it leaves them to their owner.</summary>
        private SecretLiterals(SecretLiterals owner)
        {
            _owner = owner;
            _items = owner._items;
            Version = owner.Version;
        }

        internal SecretLiterals Borrow() => new SecretLiterals(this);

        /// <summary>
        /// Stands for these literals' content: the same object for every view of one opened set, a new one for each
        /// set opened (a set's content never changes after it was opened; disposing it zeroes it and nothing reads it again).
        /// </summary>
        internal object Identity => _items;

        internal IReadOnlyList<char[]> Items
        {
            get
            {
                if (_owner != null) return _owner.Items;
                if (!_sorted)
                {
                    // Longest first: a literal inside another (the JWT's signature part) is masked with it.
                    _items.Sort((a, b) => b.Length.CompareTo(a.Length));
                    _sorted = true;
                }
                return _items;
            }
        }

        /// <summary>Takes the array (it is zeroed with the others).</summary>
        internal void Add(char[]? literal)
        {
            if (literal == null) return;
            if (literal.Length < MinLength)
            {
                Array.Clear(literal, 0, literal.Length);
                return;
            }
            if (_owner != null) throw new InvalidOperationException("A borrowed view of the session's secrets is read-only.");
            _items.Add(literal);
            _sorted = false;
        }

        internal void Add(SecureString? secret)
        {
            if (secret == null || secret.Length == 0) return;
            try
            {
                Add(Chars(secret));
            }
            catch (ObjectDisposedException)
            {
                // Gone with its owner: what it guarded was masked while it lived.
            }
        }

        /// <summary>A JWT, and its signature part alone (as bad as the whole token).</summary>
        internal void AddJwt(SecureString? jwt)
        {
            if (jwt == null || jwt.Length == 0) return;
            char[] token;
            try
            {
                token = Chars(jwt);
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            int dot = Array.LastIndexOf(token, '.');
            if (dot > 0 && dot < token.Length - 1)
            {
                var signature = new char[token.Length - dot - 1];
                Array.Copy(token, dot + 1, signature, 0, signature.Length);
                Add(signature);
            }
            Add(token);
        }

        public void Dispose()
        {
            if (_owner != null) return;
            foreach (char[] literal in _items) Array.Clear(literal, 0, literal.Length);
            _items.Clear();
        }

        private static char[] Chars(SecureString secure)
        {
            IntPtr ptr = Marshal.SecureStringToGlobalAllocUnicode(secure);
            try
            {
                var chars = new char[secure.Length];
                Marshal.Copy(ptr, chars, 0, chars.Length);
                return chars;
            }
            finally
            {
                Marshal.ZeroFreeGlobalAllocUnicode(ptr);
            }
        }
    }

    /// <summary>
    /// What a session must never show, wherever a server or a user puts it: its secret key and JWT (the
    /// credentials' own SecureStrings, not copies) and the nonce and signature of its last auth request (kept
    /// from that request until the next one replaces them or the session closes). Everything is held as a
    /// SecureString: nothing here can be printed; <see cref="Open"/> lends the text to one redaction pass.
    /// </summary>
    internal sealed class SessionSecrets : IDisposable
    {
        private readonly object _gate = new object();
        private readonly SecureString? _key;
        private readonly SecureString? _jwt;
        private SecureString? _nonce;
        private SecureString? _signature;
        private int _version;

        internal SessionSecrets(SecureString? key = null, SecureString? jwt = null)
        {
            _key = key;
            _jwt = jwt;
        }

        /// <summary>The nonce and signature an auth request just carried (replacing the previous request's).</summary>
        internal void Sent(string nonce, string signature)
        {
            SecureString n = Secure(nonce);
            SecureString s = Secure(signature);
            lock (_gate)
            {
                _nonce?.Dispose();
                _signature?.Dispose();
                _nonce = n;
                _signature = s;
                _version++;
            }
        }

        /// <summary>Changes whenever the secrets do: a pass that lasts (a recorder batch) opens them again when it differs from its literals'.</summary>
        internal int Version => Volatile.Read(ref _version);

        /// <summary>Drops the nonce and signature (the session closed). The credentials stay with their owner.</summary>
        internal void Forget()
        {
            lock (_gate)
            {
                _nonce?.Dispose();
                _signature?.Dispose();
                _nonce = null;
                _signature = null;
                _version++;
            }
        }

        public void Dispose() => Forget();

        // Opened once for a burst of the receive loop instead of once per error frame (decoding four SecureStrings
        // per frame was a sixth of the loop's work in an error flood). Lent only to passes on the thread that holds
        // it, which releases it (zeroing the text) before it awaits anything, so no other thread ever reads arrays
        // that may be zeroed under it.
        private SecretLiterals? _held;
        private int _heldBy;

        /// <summary>
        /// The receive loop is about to read frames synchronously on this thread: later <see cref="Open"/> calls on it
        /// borrow one opened set until <see cref="Release"/>. Call <see cref="Release"/> before any await.
        /// </summary>
        internal void Hold() => _heldBy = Environment.CurrentManagedThreadId;

        /// <summary>Ends the hold of this thread and zeroes what it opened.</summary>
        internal void Release()
        {
            if (_heldBy != Environment.CurrentManagedThreadId) return;
            _heldBy = 0;
            SecretLiterals? held = _held;
            _held = null;
            held?.Dispose();
        }

        /// <summary>The secrets as text for one pass; dispose it (that zeroes them). <paramref name="extra"/>: one more literal (the recorder's public key).</summary>
        internal SecretLiterals Open(string? extra = null)
        {
            if (extra == null && _heldBy != 0 && _heldBy == Environment.CurrentManagedThreadId)
            {
                if (_held == null || _held.Version != Version)
                {
                    _held?.Dispose();
                    _held = OpenNew(null);
                }
                return _held.Borrow();
            }
            return OpenNew(extra);
        }

        private SecretLiterals OpenNew(string? extra)
        {
            var literals = new SecretLiterals();
            lock (_gate)
            {
                literals.Version = _version;
                literals.Add(_key);
                literals.AddJwt(_jwt);
                literals.Add(_nonce);
                literals.Add(_signature);
            }
            if (!string.IsNullOrEmpty(extra)) literals.Add(extra!.ToCharArray());
            return literals;
        }

        public override string ToString() => "(the session's secrets)";

        private static SecureString Secure(string text)
        {
            var secure = new SecureString();
            foreach (char c in text) secure.AppendChar(c);
            secure.MakeReadOnly();
            return secure;
        }
    }

    /// <summary>
    /// The one redaction pass for every text the module shows that came from a server or a user (error messages
    /// and codes, echoed requests in any encoding, malformed frame text, close reasons, exception messages,
    /// -Debug and -WhatIf/-Confirm text) and for recorded transcripts. In order: the session's own secrets
    /// wherever they appear; the values of secret-named JSON keys, whatever their type and however deeply the
    /// JSON is escaped (a JSON string holding JSON, and so on); anything shaped like a JWT; runs of 64 or more
    /// hex digits (an HMAC signature); then control characters are removed (not from transcripts, whose writer
    /// escapes them); and only then is the text cut. Linear in the text: no pattern can be made to backtrack.
    /// </summary>
    internal static class Redaction
    {
        internal const string Mask = "***";

        /// <summary>Shown instead of a text that could not be checked (never expected: only the transcript's api_key pattern is a regex).</summary>
        internal const string Withheld = "(text withheld: it may contain a secret and could not be redacted)";

        private static readonly string[] SecretNameList =
        {
            "signature", "nonce", "jwt", "secret", "secret_key", "api_secret", "apisecret", "password", "token",
            "access_token", "refresh_token", "x-qfex-hmac-signature", "x-qfex-nonce", "authorization",
        };

        // Every secret name holds one of these: a text without any of them has no secret-named key.
        private static readonly string[] NameNeedles = { "signature", "nonce", "jwt", "secret", "password", "token", "authorization" };

        private static readonly HashSet<string> SecretNames = new HashSet<string>(SecretNameList, StringComparer.OrdinalIgnoreCase);
        private const int MaxNameLength = 21;

        // The api_key query value of a trade URL (public, but a transcript shared in a bug report needs it no more than a secret).
        private static readonly Regex ApiKeyQuery = new Regex(@"(api_key=)(?!\*\*\*(?:[&\s""#\\]|$))[^&\s""#\\]+",
            RegexOptions.IgnoreCase | RegexOptions.CultureInvariant, TimeSpan.FromMilliseconds(500));

        internal static bool IsSecretName(string name) => SecretNames.Contains(name);

        // ------------------------------------------------------------------ the entry point

        /// <summary>The text as it may be shown (see the class): masked with the session's secrets (when given), cleaned for its shape, cut to <paramref name="maxChars"/> (0: not cut) after masking.</summary>
        internal static string Clean(string? text, SessionSecrets? secrets = null, TextShape shape = TextShape.Line, int maxChars = 0)
        {
            if (string.IsNullOrEmpty(text)) return string.Empty;
            if (secrets == null) return Clean(text, (SecretLiterals?)null, shape, maxChars);
            using SecretLiterals literals = secrets.Open();
            return Clean(text, literals, shape, maxChars);
        }

        /// <summary>The same pass with secrets already opened (a recorder batch, an echo's many strings).</summary>
        internal static string Clean(string? text, SecretLiterals? literals, TextShape shape = TextShape.Line, int maxChars = 0)
        {
            if (string.IsNullOrEmpty(text)) return string.Empty;
            string s = text!;
            try
            {
                if (literals != null)
                    foreach (char[] literal in literals.Items)
                        s = ReplaceLiteral(s, literal);
                s = MaskSecretNamedValues(s);
                s = MaskJwts(s);
                s = MaskHexRuns(s, nonces: shape == TextShape.Transcript);
                if (shape == TextShape.Transcript)
                {
                    if (s.IndexOf("api_key=", StringComparison.OrdinalIgnoreCase) >= 0) s = ApiKeyQuery.Replace(s, "$1" + Mask);
                }
                else if (shape == TextShape.Identifier)
                {
                    s = EscapeControlCharacters(s);
                }
                else
                {
                    s = RemoveControlCharacters(s, shape == TextShape.MultiLine);
                }
            }
            catch (RegexMatchTimeoutException)
            {
                return Withheld;
            }
            return maxChars > 0 ? Cut(s, maxChars) : s;
        }

        /// <summary>
        /// <see cref="Clean(string?, SecretLiterals?, TextShape, int)"/> for texts that recur from frame to frame (an
        /// error frame's code, message and the strings of its echo: a flood repeats them): the last few results on this
        /// thread are reused when the text, its shape and the very same opened secrets (one list of literals, which
        /// never changes once opened) match. The pass is a pure function of those, so the text shown is the same. Only
        /// texts the pass left unchanged are remembered.
        /// </summary>
        internal static string CleanRecurring(string? text, SecretLiterals? literals, TextShape shape)
        {
            if (string.IsNullOrEmpty(text)) return string.Empty;
            object? secretsKey = literals?.Identity;
            RecentCleaned recent = t_recent ??= new RecentCleaned();
            for (int i = 0; i < RecentCleaned.Size; i++)
            {
                if (recent.Texts[i] != null && recent.Shapes[i] == shape && ReferenceEquals(recent.Secrets[i], secretsKey)
                    && string.Equals(recent.Texts[i], text, StringComparison.Ordinal))
                    return recent.Texts[i]!;
            }
            string cleaned = Clean(text, literals, shape);
            // Only a text the pass left as it was is remembered: one it changed may hold a secret, which no static keeps.
            if (!string.Equals(cleaned, text, StringComparison.Ordinal)) return cleaned;
            int slot = recent.Next;
            recent.Next = (slot + 1) % RecentCleaned.Size;
            recent.Texts[slot] = text;
            recent.Shapes[slot] = shape;
            recent.Secrets[slot] = secretsKey;
            return cleaned;
        }

        [ThreadStatic] private static RecentCleaned? t_recent;

        private sealed class RecentCleaned
        {
            internal const int Size = 8;
            internal readonly string?[] Texts = new string?[Size];
            internal readonly TextShape[] Shapes = new TextShape[Size];
            internal readonly object?[] Secrets = new object?[Size];
            internal int Next;
        }

        /// <summary>Redacts objects in place and returns the value (a string comes back cleaned): secret-named keys hold "***" whatever their value, strings are cleaned.</summary>
        internal static object? Redact(object? value, SessionSecrets? secrets = null)
        {
            if (value == null) return null;
            using SecretLiterals? literals = secrets?.Open();
            return Redact(value, literals, 0);
        }

        internal static object? Redact(object? value, SecretLiterals? literals) => Redact(value, literals, 0);

        private static object? Redact(object? value, SecretLiterals? literals, int depth)
        {
            if (value == null || depth > 64) return value;
            switch (value is PSObject p && p.BaseObject is not PSCustomObject ? p.BaseObject : value)
            {
                case string text:
                    return Clean(text, literals, TextShape.MultiLine);
                case PSObject pso:
                    foreach (PSPropertyInfo property in pso.Properties)
                    {
                        if (property is not PSNoteProperty) continue;
                        property.Value = IsSecretName(property.Name) && property.Value != null ? Mask : Redact(property.Value, literals, depth + 1);
                    }
                    return value;
                case IDictionary dictionary when !dictionary.IsReadOnly:
                    foreach (object key in new ArrayList(dictionary.Keys))
                        dictionary[key] = key is string name && IsSecretName(name) && dictionary[key] != null ? Mask : Redact(dictionary[key], literals, depth + 1);
                    return value;
                case IList list when !list.IsReadOnly:
                    for (int i = 0; i < list.Count; i++)
                    {
                        object? item = list[i];
                        object? redacted = Redact(item, literals, depth + 1);
                        if (!ReferenceEquals(item, redacted)) list[i] = redacted;
                    }
                    return value;
                default:
                    return value;
            }
        }

        // ------------------------------------------------------------------ secret-named values in JSON text, at any escape level

        /// <summary>
        /// Masks the value of every secret-named key in JSON-looking text: "name": value with any value (a string,
        /// a number, an object, an array; null stays null), in plain JSON and in JSON escaped once or more (an
        /// echo that is a JSON string holding JSON, a double-encoded one, a malformed frame quoting one). A value
        /// cut off by the end of the text is masked to the end. Already masked values are left as they are.
        /// </summary>
        internal static string MaskSecretNamedValues(string text)
        {
            if (text.IndexOf('"') < 0 || !HasNeedle(text)) return text;
            StringBuilder? sb = null;
            int copied = 0;
            int i = 0;
            while (i < text.Length)
            {
                int q = text.IndexOf('"', i);
                if (q < 0) break;
                i = q + 1;

                // A key's opening quote at escape level L is preceded by exactly 2^L - 1 backslashes.
                int run = BackslashesBefore(text, q, 0);
                if (!IsLevelRun(run)) continue;
                int nameStart = q + 1;
                int j = nameStart;
                while (j < text.Length && j - nameStart <= MaxNameLength && IsNameChar(text[j])) j++;
                int nameLength = j - nameStart;
                if (nameLength == 0 || nameLength > MaxNameLength || !QuoteAt(text, j, run)) continue;
                if (!SecretNames.Contains(text.Substring(nameStart, nameLength))) continue;

                int k = SkipSpace(text, j + run + 1);
                if (k >= text.Length || text[k] != ':') continue;
                k = SkipSpace(text, k + 1);
                if (k >= text.Length) break;

                int level = LevelOf(run);
                int replaceStart, replaceEnd;
                string replacement;
                if (QuoteAt(text, k, run))
                {
                    // A string at this level: its content becomes ***.
                    replaceStart = k + run + 1;
                    replaceEnd = ClosingQuote(text, replaceStart, level);
                    if (replaceEnd - replaceStart == Mask.Length && string.CompareOrdinal(text, replaceStart, Mask, 0, Mask.Length) == 0)
                    {
                        i = replaceEnd;
                        continue;
                    }
                    replacement = Mask;
                    i = replaceEnd;
                }
                else if (text[k] == '{' || text[k] == '[')
                {
                    replaceStart = k;
                    replaceEnd = MatchingBracket(text, k, level);
                    replacement = Quote(run) + Mask + Quote(run);
                    i = replaceEnd;
                }
                else
                {
                    // A number, true/false, or anything else up to the next delimiter; null is no secret.
                    replaceStart = k;
                    replaceEnd = k;
                    while (replaceEnd < text.Length && !IsScalarEnd(text[replaceEnd])) replaceEnd++;
                    if (replaceEnd == replaceStart || (replaceEnd - replaceStart == 4 && string.CompareOrdinal(text, replaceStart, "null", 0, 4) == 0))
                    {
                        i = Math.Max(i, replaceEnd);
                        continue;
                    }
                    replacement = Quote(run) + Mask + Quote(run);
                    i = replaceEnd;
                }

                sb ??= new StringBuilder(text.Length);
                sb.Append(text, copied, replaceStart - copied).Append(replacement);
                copied = replaceEnd;
            }
            return sb == null ? text : sb.Append(text, copied, text.Length - copied).ToString();
        }

        private static bool HasNeedle(string text)
        {
            foreach (string needle in NameNeedles)
                if (text.IndexOf(needle, StringComparison.OrdinalIgnoreCase) >= 0) return true;
            return false;
        }

        private static int BackslashesBefore(string text, int at, int floor)
        {
            int n = 0;
            while (at - n - 1 >= floor && text[at - n - 1] == '\\') n++;
            return n;
        }

        // 0, 1, 3, 7, 15, ...: the backslashes before a structural quote at escape level 0, 1, 2, 3, 4, ...
        private static bool IsLevelRun(int run) => run < 64 && ((run + 1) & run) == 0;

        private static int LevelOf(int run)
        {
            int level = 0;
            while (run > 0)
            {
                run >>= 1;
                level++;
            }
            return level;
        }

        private static bool QuoteAt(string text, int at, int run)
        {
            if (at + run >= text.Length) return false;
            for (int n = 0; n < run; n++)
                if (text[at + n] != '\\') return false;
            return text[at + run] == '"';
        }

        private static string Quote(int run) => new string('\\', run) + "\"";

        /// <summary>
        /// Where the string that starts at <paramref name="from"/> (just after its opening quote) ends at escape level
        /// <paramref name="level"/>: the index of the closing quote's first backslash (or of the quote at level 0), or
        /// the end of the text when it is cut off. A quote closes it when the backslashes before it number 2^L - 1
        /// modulo 2^(L+1) (more are escaped backslashes of the content).
        /// </summary>
        private static int ClosingQuote(string text, int from, int level)
        {
            int q = (1 << level) - 1;
            int modulus = 1 << (level + 1);
            int i = from;
            while (i < text.Length)
            {
                int quote = text.IndexOf('"', i);
                if (quote < 0) return text.Length;
                int run = BackslashesBefore(text, quote, from);
                if (run % modulus == q) return quote - q;
                i = quote + 1;
            }
            return text.Length;
        }

        /// <summary>The index just after the bracket that closes the one at <paramref name="open"/>, skipping strings at the level; the end of the text when it is cut off.</summary>
        private static int MatchingBracket(string text, int open, int level)
        {
            int q = (1 << level) - 1;
            int depth = 0;
            int i = open;
            while (i < text.Length)
            {
                char c = text[i];
                if (c == '{' || c == '[') depth++;
                else if (c == '}' || c == ']')
                {
                    if (--depth == 0) return i + 1;
                }
                else if (c == '"' && BackslashesBefore(text, i, open) == q)
                {
                    i = ClosingQuote(text, i + 1, level) + q + 1;
                    continue;
                }
                i++;
            }
            return text.Length;
        }

        private static int SkipSpace(string text, int i)
        {
            while (i < text.Length)
            {
                char c = text[i];
                if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
                {
                    i++;
                    continue;
                }
                // Escaped whitespace of pretty-printed JSON inside a string: \n, \\n, ...
                if (c == '\\')
                {
                    int j = i;
                    while (j < text.Length && text[j] == '\\') j++;
                    if (j < text.Length && (text[j] == 'n' || text[j] == 'r' || text[j] == 't'))
                    {
                        i = j + 1;
                        continue;
                    }
                }
                break;
            }
            return i;
        }

        private static bool IsNameChar(char c) => (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';

        private static bool IsScalarEnd(char c) => c == ',' || c == '}' || c == ']' || c == '"' || c == '\\' || c == ' ' || c == '\t' || c == '\r' || c == '\n';

        // ------------------------------------------------------------------ shapes: JWTs, signatures, nonces

        /// <summary>Masks anything shaped like a JWT (eyJ... . ... . ...: base64url header, payload, signature).</summary>
        internal static string MaskJwts(string text)
        {
            int at = text.IndexOf("eyJ", StringComparison.Ordinal);
            if (at < 0) return text;
            StringBuilder? sb = null;
            int copied = 0;
            while (at >= 0)
            {
                int next = JwtAt(text, at, out int end);
                if (end > at)
                {
                    sb ??= new StringBuilder(text.Length);
                    sb.Append(text, copied, at - copied).Append(Mask);
                    copied = end;
                }
                at = next < text.Length ? text.IndexOf("eyJ", next, StringComparison.Ordinal) : -1;
            }
            return sb == null ? text : sb.Append(text, copied, text.Length - copied).ToString();
        }

        /// <summary>Whether the text holds anything shaped like a JWT.</summary>
        internal static bool HasJwtShape(string text)
        {
            int at = text.IndexOf("eyJ", StringComparison.Ordinal);
            while (at >= 0)
            {
                int next = JwtAt(text, at, out int end);
                if (end > at) return true;
                at = next < text.Length ? text.IndexOf("eyJ", next, StringComparison.Ordinal) : -1;
            }
            return false;
        }

        /// <summary>A JWT starting at <paramref name="at"/>: its end (else <paramref name="at"/>); returns where to look next (linear overall).</summary>
        private static int JwtAt(string text, int at, out int end)
        {
            end = at;
            int e1 = Base64UrlEnd(text, at);
            if (e1 - at < 5 || e1 >= text.Length || text[e1] != '.') return Math.Max(e1, at + 1);
            int e2 = Base64UrlEnd(text, e1 + 1);
            if (e2 - e1 - 1 < 2 || e2 >= text.Length || text[e2] != '.') return e1 + 1;
            int e3 = Base64UrlEnd(text, e2 + 1);
            if (e3 == e2 + 1) return e2 + 1;
            end = e3;
            return e3;
        }

        private static int Base64UrlEnd(string text, int i)
        {
            while (i < text.Length && (IsAsciiLetterOrDigit(text[i]) || text[i] == '_' || text[i] == '-')) i++;
            return i;
        }

        private static string MaskHexRuns(string text, bool nonces)
        {
            // Every run SecretHexRuns yields is 32 hex digits or longer: most texts (codes, messages, the strings of an
            // echo) have none, and need no enumerator.
            if (!HasHexRun(text, 32)) return text;
            StringBuilder? sb = null;
            int from = 0;
            foreach ((int start, int length) in SecretHexRuns(text, nonces))
            {
                sb ??= new StringBuilder(text.Length);
                sb.Append(text, from, start - from).Append(Mask);
                from = start + length;
            }
            return sb == null ? text : sb.Append(text, from, text.Length - from).ToString();
        }

        /// <summary>
        /// Maximal runs of ASCII hex digits shaped like a signature (64 or more) or, with <paramref name="nonces"/>, a
        /// free-standing nonce (exactly 32, not after a letter, digit, '_' or '-', not before a letter or digit),
        /// holding a letter or touching a quote (a JSON number is never one).
        /// </summary>
        internal static IEnumerable<(int Start, int Length)> SecretHexRuns(string text, bool nonces)
        {
            int i = 0;
            while (i < text.Length)
            {
                if (!IsHex(text[i]))
                {
                    i++;
                    continue;
                }
                int start = i;
                bool letter = false;
                while (i < text.Length && IsHex(text[i]))
                {
                    letter |= text[i] > '9';
                    i++;
                }
                int length = i - start;
                if (length < 32) continue;
                char before = start > 0 ? text[start - 1] : ' ';
                char after = i < text.Length ? text[i] : ' ';
                bool shaped = length >= 64
                    || (nonces && length == 32 && !(IsAsciiLetterOrDigit(before) || before == '_' || before == '-') && !IsAsciiLetterOrDigit(after));
                if (shaped && (letter || before == '"' || after == '"'))
                    yield return (start, length);
            }
        }

        private static bool HasHexRun(string text, int length)
        {
            int run = 0;
            foreach (char c in text)
            {
                if (!IsHex(c)) run = 0;
                else if (++run >= length) return true;
            }
            return false;
        }

        private static bool IsHex(char c) => (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');

        private static bool IsAsciiLetterOrDigit(char c) => (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');

        /// <summary>The api_key query value pattern (the transcript's check).</summary>
        internal static bool HasApiKeyQuery(string text) =>
            text.IndexOf("api_key=", StringComparison.OrdinalIgnoreCase) >= 0 && ApiKeyQuery.IsMatch(text);

        // ------------------------------------------------------------------ literals, control characters, cutting

        private static string ReplaceLiteral(string text, char[] literal)
        {
            if (literal.Length == 0 || literal.Length > text.Length) return text;
            ReadOnlySpan<char> needle = literal;
            int at = text.AsSpan().IndexOf(needle);
            if (at < 0) return text;
            var sb = new StringBuilder(text.Length);
            int from = 0;
            while (at >= 0)
            {
                sb.Append(text, from, at - from).Append(Mask);
                from = at + literal.Length;
                int next = text.AsSpan(from).IndexOf(needle);
                at = next < 0 ? -1 : from + next;
            }
            return sb.Append(text, from, text.Length - from).ToString();
        }

        /// <summary>
        /// A character that must not reach a terminal: C0 controls (ESC starts the sequences that clear a screen or set
        /// a window title, BEL ends them), DEL, C1 controls (0x9B is CSI on some terminals), and the bidirectional
        /// overrides and isolates that make text display in another order than it is.
        /// </summary>
        internal static bool IsUnsafeCharacter(char c) =>
            c < '\u0020' || (c >= '\u007F' && c <= '\u009F') || (c >= '\u202A' && c <= '\u202E') || (c >= '\u2066' && c <= '\u2069');

        private static string RemoveControlCharacters(string text, bool multiLine)
        {
            int first = -1;
            for (int i = 0; i < text.Length; i++)
            {
                if (IsUnsafeCharacter(text[i]) && !(multiLine && (text[i] == '\n' || text[i] == '\t')))
                {
                    first = i;
                    break;
                }
            }
            if (first < 0) return text;

            var sb = new StringBuilder(text.Length);
            sb.Append(text, 0, first);
            for (int i = first; i < text.Length; i++)
            {
                char c = text[i];
                if (!IsUnsafeCharacter(c))
                {
                    sb.Append(c);
                    continue;
                }
                if (multiLine)
                {
                    if (c == '\n' || c == '\t') sb.Append(c);
                    else if (c == '\r' && (i + 1 == text.Length || text[i + 1] != '\n')) sb.Append('\n');
                }
                else if (c == '\n' || c == '\t' || c == '\r')
                {
                    sb.Append(' ');
                }
            }
            return sb.ToString();
        }

        private static string EscapeControlCharacters(string text)
        {
            StringBuilder? sb = null;
            for (int i = 0; i < text.Length; i++)
            {
                char c = text[i];
                if (!IsUnsafeCharacter(c))
                {
                    sb?.Append(c);
                    continue;
                }
                sb ??= new StringBuilder(text.Length + 8).Append(text, 0, i);
                sb.Append("\\u").Append(((int)c).ToString("X4", System.Globalization.CultureInfo.InvariantCulture));
            }
            return sb == null ? text : sb.ToString();
        }

        /// <summary>At most <paramref name="maxChars"/> characters: when cut, the last three are "..." (a surrogate pair is never split).</summary>
        private static string Cut(string text, int maxChars)
        {
            if (text.Length <= maxChars) return text;
            int keep = Math.Max(0, maxChars - 3);
            if (keep > 0 && char.IsHighSurrogate(text[keep - 1])) keep--;
            return text.Substring(0, keep) + "...";
        }
    }
}
