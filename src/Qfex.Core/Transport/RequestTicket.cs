using System.Threading.Tasks;

namespace Qfex.Transport
{
    /// <summary>Where a user request is on its way to the socket. Changed only under the session core's lock.</summary>
    internal enum RequestPhase
    {
        /// <summary>Not yet admitted.</summary>
        Created,
        /// <summary>Admitted for one connection (its generation), waiting for rate-limit room or its turn to write.</summary>
        Admitted,
        /// <summary>Being written: from here on it may have reached the exchange.</summary>
        Writing,
        /// <summary>Written; waiting for its answer, if it has one.</summary>
        Written,
        /// <summary>Finished: answered, written without an answer to wait for, or failed (see Failure).</summary>
        Done,
    }

    /// <summary>
    /// One user request and the one truthful account of what became of it. The session core decides its
    /// phase under one lock, so a request is either provably never written (not sent), or written and then
    /// answered or of unknown outcome: a drop, a replaced connection, Ctrl+C and the write itself cannot
    /// disagree about it.
    /// </summary>
    internal sealed class RequestTicket
    {
        internal RequestTicket(string type, string json, System.Func<QfexFrame, bool>? answerMatch)
        {
            Type = type;
            Json = json;
            AnswerMatch = answerMatch;
        }

        internal string Type { get; }
        internal string Json { get; }

        /// <summary>Recognises the answer, for a request whose answer is awaited (-Wait); null otherwise.</summary>
        internal System.Func<QfexFrame, bool>? AnswerMatch { get; }

        internal RequestPhase Phase { get; set; }

        /// <summary>The connection the request was admitted for: it is written on that one or on none.</summary>
        internal int Generation { get; set; }

        /// <summary>The wait for the answer (registered when admitted, so a fast answer is never missed).</summary>
        internal Waiter<QfexFrame>? Answer { get; set; }

        /// <summary>Why the request failed, once decided; it says whether it was sent.</summary>
        internal QfexException? Failure { get; set; }

        /// <summary>
        /// Cancelled when the request is decided; made only for a request that waits for rate-limit room (see
        /// SessionCore.WhenDecided). Never disposed: it has no timer and nothing links to it after the wait
        /// (the linked source is disposed), so there is nothing to release.
        /// </summary>
        internal System.Threading.CancellationTokenSource? Decided { get; set; }

        /// <summary>The answer; faults with <see cref="Failure"/> when the request failed.</summary>
        internal Task<QfexFrame>? AnswerTask => Answer?.Task;
    }
}
