using System;
using System.Collections.Generic;
using System.Linq;
using System.Security;
using Qfex.Errors;
using Qfex.Protocol;
using Xunit;

namespace Qfex.Tests
{
    /// <summary>
    /// What an error flood reuses instead of redoing per frame (secrets opened once per burst of the receive loop, the
    /// cleaned texts and exception messages that repeat) must never change what is shown, nor lend secrets across threads.
    /// </summary>
    public class RedactionCacheTests
    {
        private const string Key = "k3y-secret-value-0123456789";

        private static SecureString Secure(string text)
        {
            var secure = new SecureString();
            foreach (char c in text) secure.AppendChar(c);
            secure.MakeReadOnly();
            return secure;
        }

        private static string[] Texts(SecretLiterals literals) => literals.Items.Select(l => new string(l)).ToArray();

        [Fact]
        public void SecretsHeldForABurstAreLentOnlyToTheHoldingThreadAndZeroedOnRelease()
        {
            using var secrets = new SessionSecrets(Secure(Key));
            secrets.Sent("0123456789abcdef0123456789abcdef", "feedfacefeedfacefeedfacefeedface");
            secrets.Hold();
            try
            {
                SecretLiterals first = secrets.Open();
                first.Dispose();   // a borrowed view: its owner's text stays
                using SecretLiterals second = secrets.Open();
                Assert.Same(first.Identity, second.Identity);
                Assert.Contains(Key, Texts(second));

                // Another thread never borrows what this one holds.
                object? otherThreads = null;
                string[] otherTexts = Array.Empty<string>();
                var other = new System.Threading.Thread(() =>
                {
                    using SecretLiterals own = secrets.Open();
                    otherTexts = Texts(own);
                    otherThreads = own.Identity;
                });
                other.Start();
                other.Join();
                Assert.Contains(Key, otherTexts);
                Assert.NotNull(otherThreads);
                Assert.NotSame(second.Identity, otherThreads);

                // A new auth changes the secrets: the holder's next pass opens them again, with the new nonce.
                char[][] before = second.Items.ToArray();
                secrets.Sent("abcdef0123456789abcdef0123456789", "cafebabecafebabecafebabecafebabe");
                using SecretLiterals renewed = secrets.Open();
                Assert.NotSame(second.Identity, renewed.Identity);
                Assert.Contains("abcdef0123456789abcdef0123456789", Texts(renewed));
                Assert.All(before, literal => Assert.All(literal, c => Assert.Equal('\0', c)));

                char[][] held = renewed.Items.ToArray();
                secrets.Release();
                Assert.All(held, literal => Assert.All(literal, c => Assert.Equal('\0', c)));
                using SecretLiterals afterRelease = secrets.Open();
                Assert.NotSame(renewed.Identity, afterRelease.Identity);
                Assert.Contains(Key, Texts(afterRelease));
            }
            finally
            {
                secrets.Release();
            }
        }

        [Fact]
        public void ARecurringTextIsCleanedAsTheOnePassWouldForItsSecretsAndShape()
        {
            string quoting = "The request carried " + Key + " in clear.";
            // Without the session's secrets nothing in it is a secret: it comes back unchanged (and is remembered).
            Assert.Equal(quoting, Redaction.CleanRecurring(quoting, null, TextShape.MultiLine));
            Assert.Equal(quoting, Redaction.CleanRecurring(quoting, null, TextShape.MultiLine));

            // With them, the same text is masked: what was remembered for other secrets is not reused.
            using var secrets = new SessionSecrets(Secure(Key));
            using SecretLiterals literals = secrets.Open();
            for (int i = 0; i < 2; i++)
            {
                string shown = Redaction.CleanRecurring(quoting, literals, TextShape.MultiLine);
                Assert.Equal(Redaction.Clean(quoting, literals, TextShape.MultiLine), shown);
                Assert.DoesNotContain(Key, shown, StringComparison.Ordinal);
            }

            // Each shape keeps its own rule for the same text.
            string hostile = "Code\u001b[2J";
            foreach (TextShape shape in new[] { TextShape.Line, TextShape.Identifier, TextShape.MultiLine, TextShape.Line })
                Assert.Equal(Redaction.Clean(hostile, (SecretLiterals?)null, shape), Redaction.CleanRecurring(hostile, null, shape));

            // More distinct texts than it remembers, twice over: every answer is the pass's.
            string[] many = Enumerable.Range(0, 20).Select(n => "Too many requests " + n + ". Please retry after 200ms.").ToArray();
            foreach (string text in many.Concat(many).Concat(many.Reverse()))
                Assert.Equal(Redaction.Clean(text, literals, TextShape.MultiLine), Redaction.CleanRecurring(text, literals, TextShape.MultiLine));
        }

        [Fact]
        public void RepeatedErrorFramesKeepEachTheirOwnMessageAndAdvice()
        {
            var frames = new List<(string Code, string Message)>
            {
                ("RateLimited", "Too many requests. Please retry after 200ms."),
                ("RateLimited", "Too many requests. Please retry after 200ms."),
                ("RateLimited", "Too many requests. Please retry after 900ms."),
                ("InvalidParameter", "Too many requests. Please retry after 900ms."),
                ("RateLimited", "Too many requests. Please retry after 200ms."),
            };
            foreach ((string code, string message) in frames)
            {
                var exception = (QfexServerErrorException)ErrorRecords.ForErrorFrame(ErrorEnvelope.Create(code, message, null), 1, DateTime.UtcNow).Exception;
                Assert.Equal($"The exchange answered with error {code}: {message}", exception.Message);
                Assert.Equal(code, exception.Advice.Code);
                Assert.Equal(TimeSpan.FromMilliseconds(message.Contains("900ms", StringComparison.Ordinal) ? 900 : 200), exception.Advice.RetryAfter);
            }
        }
    }
}
