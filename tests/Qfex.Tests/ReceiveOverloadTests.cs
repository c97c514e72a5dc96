using Qfex.Transport;
using Xunit;

namespace Qfex.Tests
{
    /// <summary>
    /// Every fault-injection test again with the receive loop on the ArraySegment overload of
    /// ReceiveAsync: the only one Windows PowerShell 5.1's runtime has (PowerShell 7 uses the Memory one).
    /// </summary>
    public sealed class FaultInjectionTestsOnTheArraySegmentReceive : FaultInjectionTests
    {
        // Only this class's runspace: the other test classes, running in parallel, keep the Memory overload.
        public FaultInjectionTestsOnTheArraySegmentReceive() =>
            Qfex.Commands.SessionOptionHooks.Set(Host.Runspace, options => options.ForceArraySegmentReceive = true);
    }

    public class SocketReceiverTests
    {
        [Fact]
        public void TheMemoryOverloadIsBoundOnThisRuntime()
        {
            // Otherwise every receive silently pays for a Task and a result object (still correct, slower).
            Assert.True(SocketReceiver.HasMemoryOverload);
        }
    }
}

namespace Qfex.Tests
{
    using System;
    using System.Net.WebSockets;
    using System.Threading;
    using System.Threading.Tasks;
    using System.Threading.Tasks.Sources;
    using Qfex.Transport;
    using Xunit;

    /// <summary>
    /// The Memory fast path against a receive that went asynchronous and completed before it was looked at: its
    /// ValueTask is backed by a pooled source that may be read once (a second read threw InvalidOperationException
    /// under load, about once in a few hundred connects, as "The connection was lost: Operation is not valid...").
    /// </summary>
    public class SocketReceiverValueTaskTests
    {
        private sealed class ReadOnceSource : IValueTaskSource<ValueWebSocketReceiveResult>
        {
            internal int Reads;

            public ValueWebSocketReceiveResult GetResult(short token)
            {
                if (Interlocked.Increment(ref Reads) > 1) throw new InvalidOperationException("read twice");
                return new ValueWebSocketReceiveResult(42, WebSocketMessageType.Text, true);
            }

            public ValueTaskSourceStatus GetStatus(short token) => Reads == 0 ? ValueTaskSourceStatus.Succeeded : throw new InvalidOperationException("looked at after it was read");

            public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) => continuation(state);
        }

        private sealed class OneReceiveSocket : WebSocket
        {
            internal readonly ReadOnceSource Source = new ReadOnceSource();

            public override ValueTask<ValueWebSocketReceiveResult> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken) =>
                new ValueTask<ValueWebSocketReceiveResult>(Source, 0);

            public override WebSocketCloseStatus? CloseStatus => null;
            public override string? CloseStatusDescription => null;
            public override WebSocketState State => WebSocketState.Open;
            public override string? SubProtocol => null;
            public override void Abort() { }
            public override Task CloseAsync(WebSocketCloseStatus closeStatus, string? statusDescription, CancellationToken cancellationToken) => Task.CompletedTask;
            public override Task CloseOutputAsync(WebSocketCloseStatus closeStatus, string? statusDescription, CancellationToken cancellationToken) => Task.CompletedTask;
            public override void Dispose() { }
            public override Task<WebSocketReceiveResult> ReceiveAsync(ArraySegment<byte> buffer, CancellationToken cancellationToken) => throw new NotSupportedException();
            public override Task SendAsync(ArraySegment<byte> buffer, WebSocketMessageType messageType, bool endOfMessage, CancellationToken cancellationToken) => Task.CompletedTask;
        }

        [Fact]
        public void AValueTaskThatCompletedAsynchronouslyIsReadExactlyOnce()
        {
            var socket = new OneReceiveSocket();
            Assert.True(SocketReceiver.TryReceive(socket, new byte[64], 0, 64, forceArraySegment: false, out ReceivedChunk chunk, out Task? pending));
            Assert.Null(pending);
            Assert.Equal(42, chunk.Count);
            Assert.Equal(WebSocketMessageType.Text, chunk.MessageType);
            Assert.True(chunk.EndOfMessage);
            Assert.Equal(1, socket.Source.Reads);
        }
    }
}
