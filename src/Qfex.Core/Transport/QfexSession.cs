using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using Qfex.Transport;

namespace Qfex
{
    public enum QfexSessionState
    {
        Connecting,
        Open,
        Reconnecting,
        Closed,
    }

    /// <summary>
    /// A connection to the exchange that outlives its sockets. The public face of three parts: the I/O-free
    /// <see cref="SessionCore"/> (state, numbering, buffer, waits, request outcomes), the socket link of the
    /// current connection, and the <see cref="SessionSupervisor"/> (reconnects, watchdog, rate limit,
    /// closing) on an injected clock. Safe to share between threads and runspaces; it belongs to the runspace
    /// that opened it and closes with it. It shows no secret.
    /// </summary>
    public sealed class QfexSession : IDisposable
    {
        internal const int DefaultBufferCapacity = SessionOptions.DefaultBufferCapacity;
        internal const int DefaultMaxFrameBytes = SessionOptions.DefaultMaxFrameBytes;
        internal const string ReconnectedType = SessionCore.ReconnectedType;

        private static int s_lastId;

        private readonly SessionOptions _options;

        internal QfexSession(SessionOptions options)
            : this(options, null)
        {
        }

        /// <summary>For the unit tests: a session whose connections come from <paramref name="open"/> instead of sockets.</summary>
        internal QfexSession(SessionOptions options, Func<SessionCore, LinkSetup, CancellationToken, Task<ISessionLink>>? open)
        {
            _options = options;
            Id = Interlocked.Increment(ref s_lastId);
            Core = new SessionCore(Id, options.Uri, options.Endpoint, options.BufferCapacity, () => options.Clock.GetUtcNow().UtcDateTime, options.BufferBytes,
                cancelOnDisconnect: options.CancelOnDisconnect && options.Endpoint == QfexEndpoint.Trade,
                secrets: new Protocol.SessionSecrets(options.Credentials?.Secret, options.Credentials?.Jwt), clock: options.Clock);
            Supervisor = new SessionSupervisor(Core, options, open == null
                ? (setup, token) => SocketLink.OpenAsync(Core, options, setup, token)
                : (setup, token) => open(Core, setup, token));
        }

        public int Id { get; }
        public Uri Uri => _options.Uri;
        public QfexEndpoint Endpoint => _options.Endpoint;
        public Guid? AccountId => _options.AccountId;
        public QfexSessionState State => Core.State;
        public bool IsAuthenticated => Core.IsAuthenticated;
        public DateTime ConnectedAt => Core.ConnectedAt;

        /// <summary>Frames delivered so far: the last Sequence handed out.</summary>
        public long FramesReceived => Core.FramesReceived;

        /// <summary>Frames waiting in the receive buffer (at most its capacity: then the socket is not read).</summary>
        public int FramesPending => Core.Buffer.Count;

        public string[] Subscriptions => Core.Subscriptions.Acknowledged;

        /// <summary>Successful reconnects after unexpected drops.</summary>
        public int Reconnects => Core.Reconnects;

        /// <summary>
        /// The session itself, so a piped session binds to -Session by property name on every cmdlet that takes one
        /// (<c>Get-QfexSession | Send-QfexMessage -Type get_user_orders</c>). Hidden from Format-List and Get-Member.
        /// </summary>
        [System.Management.Automation.Hidden]
        public QfexSession Session => this;

        /// <summary>Why the session closed (close status and reason, or the transport error), once Closed.</summary>
        public string? CloseReason => Core.CloseReason;

        /// <summary>The transcript file the session is recorded to (Connect-Qfex -RecordPath), or null.</summary>
        public string? RecordPath => Core.Recorder?.Path;

        /// <summary>True for an offline stand-in made by New-QfexTestSession: it never connects or sends.</summary>
        public bool IsOffline => _options.Offline;

        internal SessionCore Core { get; }

        internal SessionSupervisor Supervisor { get; }

        internal FrameBuffer Buffer => Core.Buffer;

        internal int MaxFrameBytes => _options.MaxFrameBytes;

        /// <summary>Orders, trades or leverage settings asked for per page by Get-QfexOrder, Get-QfexTrade and Get-QfexLeverage.</summary>
        internal int PageSize => Math.Max(1, _options.PageSize);

        public override string ToString() => $"QfexSession {Id} {State} {Uri}";

        /// <summary>Background events (reconnects, probes), for the next cmdlet to write as Verbose from the pipeline thread.</summary>
        internal IEnumerable<string> DrainLog() => Core.DrainLog();

        /// <summary>First connection: socket, auth, subscriptions. Throws a QfexException on failure.</summary>
        internal Task StartAsync(Action<string> log, CancellationToken cancellationToken) => Supervisor.StartAsync(log, cancellationToken);

        /// <summary>Sends a user request; throws a QfexException that says whether it was sent. See <see cref="SessionSupervisor.SendAsync"/>.</summary>
        internal Task SendAsync(RequestTicket ticket, Action<string> onThrottle, CancellationToken cancellationToken) =>
            Supervisor.SendAsync(ticket, onThrottle, cancellationToken);

        /// <summary>Done with a request: its answer if it was matched meanwhile (see <see cref="SessionCore.Finish"/>).</summary>
        internal bool Finish(RequestTicket ticket, out QfexFrame? answer) => Core.Finish(ticket, out answer);

        /// <summary>Puts back a frame that was taken but never handed to the user, in sequence order.</summary>
        internal void ReturnFrame(QfexFrame frame) => Core.ReturnFrame(frame);

        /// <summary>Closes cleanly: sends a close frame, waits for the server's, aborts after the timeout. No reconnect follows.</summary>
        internal Task CloseAsync(string reason, TimeSpan timeout) => Supervisor.CloseAsync(reason, timeout);

        internal QfexConnectionException ClosedException(string message, Exception? inner = null) => Core.ClosedException(message, inner);

        /// <summary>
        /// An offline stand-in for unit tests of runbooks (New-QfexTestSession): a real, typed session that never
        /// has a connection, so nothing it is asked to send leaves the process (it is refused as not sent). Its
        /// state is set as asked; <paramref name="frames"/> (frame texts) wait in its receive buffer, numbered
        /// 1, 2, 3, ... as received frames are.
        /// </summary>
        internal static QfexSession CreateOffline(QfexEndpoint endpoint, QfexSessionState state, IEnumerable<string> frames, string reason)
        {
            var options = new SessionOptions
            {
                Uri = OfflineUri,
                Endpoint = endpoint,
                Offline = true,
                Reconnect = false,
                IdleTimeout = TimeSpan.Zero,
                WeightPerSecond = 0,
            };
            var session = new QfexSession(options, (core, setup, token) =>
                throw new InvalidOperationException("An offline session never connects."));
            SessionCore core = session.Core;
            int generation = core.BeginLink();
            if (state != QfexSessionState.Connecting)
            {
                core.TryOpen(generation);
                if (endpoint == QfexEndpoint.Trade) core.SetAuthenticated(generation);
            }
            var contents = new List<Protocol.FrameContent>(1);
            foreach (string frame in frames)
            {
                contents.Clear();
                Protocol.FrameReader.ReadText(System.Text.Encoding.UTF8.GetBytes(frame), contents);
                foreach (Protocol.FrameContent content in contents)
                    core.DeliverAsync(content, DateTime.UtcNow, force: true).GetAwaiter().GetResult();
            }
            if (state == QfexSessionState.Reconnecting) core.LinkLost(generation, reason, mayReconnect: true);
            else if (state == QfexSessionState.Closed) core.Close(reason);
            return session;
        }

        /// <summary>Where an offline session says it is: .invalid never resolves (RFC 2606), and it never connects anyway.</summary>
        internal static readonly Uri OfflineUri = new Uri("ws://offline.invalid/");

        /// <summary>Closes the session (briefly waiting for the close handshake) and releases what it owns.</summary>
        public void Dispose()
        {
            try
            {
                CloseAsync("Dispose", TimeSpan.FromSeconds(1)).GetAwaiter().GetResult();
            }
            finally
            {
                Supervisor.Dispose();
            }
        }
    }
}
