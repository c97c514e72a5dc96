using System;
using System.Linq.Expressions;
using System.Net.WebSockets;
using System.Reflection;
using System.Threading;
using System.Threading.Tasks;

namespace Qfex.Transport
{
    /// <summary>What one receive call got.</summary>
    internal readonly struct ReceivedChunk
    {
        internal ReceivedChunk(int count, WebSocketMessageType messageType, bool endOfMessage)
        {
            Count = count;
            MessageType = messageType;
            EndOfMessage = endOfMessage;
        }

        internal int Count { get; }
        internal WebSocketMessageType MessageType { get; }
        internal bool EndOfMessage { get; }
    }

    /// <summary>
    /// One receive on a ClientWebSocket without a Task and a result object per message where the runtime
    /// allows it. The module is built for netstandard2.0, whose WebSocket only has the ArraySegment
    /// overload (a Task and a WebSocketReceiveResult every call); PowerShell 7's runtime also has the
    /// Memory overload returning a ValueTask, which completes without allocating when data is already
    /// there (most messages of a burst). That overload is bound once at run time, by reflection, into a
    /// compiled delegate; where it does not exist (Windows PowerShell 5.1) the ArraySegment overload is used.
    /// </summary>
    internal static class SocketReceiver
    {
        private delegate long TryReceiveNow(WebSocket socket, Memory<byte> buffer, out Task? pending);

        private static readonly TryReceiveNow? FastReceive;
        private static readonly Func<Task, long>? FastResult;

        /// <summary>Whether the Memory overload was found and bound (PowerShell 7).</summary>
        internal static bool HasMemoryOverload => FastReceive != null;

        static SocketReceiver()
        {
            try
            {
                MethodInfo? receive = typeof(WebSocket).GetMethod(nameof(WebSocket.ReceiveAsync), new[] { typeof(Memory<byte>), typeof(CancellationToken) });
                if (receive == null || !receive.ReturnType.IsGenericType) return;
                Type valueTask = receive.ReturnType;                            // ValueTask<ValueWebSocketReceiveResult>
                Type resultType = valueTask.GetGenericArguments()[0];

                ParameterExpression socket = Expression.Parameter(typeof(WebSocket), "socket");
                ParameterExpression buffer = Expression.Parameter(typeof(Memory<byte>), "buffer");
                ParameterExpression pending = Expression.Parameter(typeof(Task).MakeByRefType(), "pending");
                ParameterExpression call = Expression.Variable(valueTask, "call");
                ParameterExpression done = Expression.Variable(resultType, "done");
                // Never cancelled: cancelling a ClientWebSocket receive aborts the socket.
                // The ValueTask's Result is read exactly once, into a variable: a ValueTask that completed after going
                // asynchronous is backed by a pooled box that its first read hands back to the pool, so a second read
                // (Pack reads three members) would throw InvalidOperationException, or worse, read another receive's box.
                BlockExpression body = Expression.Block(typeof(long), new[] { call, done },
                    Expression.Assign(call, Expression.Call(socket, receive, buffer, Expression.Constant(CancellationToken.None))),
                    Expression.Condition(
                        Expression.Property(call, "IsCompletedSuccessfully"),
                        Expression.Block(typeof(long),
                            Expression.Assign(pending, Expression.Constant(null, typeof(Task))),
                            Expression.Assign(done, Expression.Property(call, "Result")),
                            Pack(done)),
                        Expression.Block(typeof(long),
                            Expression.Assign(pending, Expression.Convert(Expression.Call(call, valueTask.GetMethod("AsTask", Type.EmptyTypes)!), typeof(Task))),
                            Expression.Constant(-1L))));
                TryReceiveNow fast = Expression.Lambda<TryReceiveNow>(body, socket, buffer, pending).Compile();

                ParameterExpression task = Expression.Parameter(typeof(Task), "task");
                ParameterExpression completed = Expression.Variable(resultType, "completed");
                Func<Task, long> result = Expression.Lambda<Func<Task, long>>(
                    Expression.Block(typeof(long), new[] { completed },
                        Expression.Assign(completed, Expression.Property(Expression.Convert(task, typeof(Task<>).MakeGenericType(resultType)), "Result")),
                        Pack(completed)), task).Compile();

                FastReceive = fast;
                FastResult = result;
            }
            catch (Exception e) when (e is ArgumentException || e is InvalidOperationException || e is NotSupportedException || e is AmbiguousMatchException)
            {
                // Anything unexpected about the runtime's API: the ArraySegment overload always works.
                FastReceive = null;
                FastResult = null;
            }
        }

        /// <summary>
        /// count | type &lt;&lt; 32 | endOfMessage &lt;&lt; 40, from a result's Count, MessageType and EndOfMessage. It reads
        /// <paramref name="result"/> three times: pass a variable (or a Task's Result), never a ValueTask's Result.
        /// </summary>
        private static BinaryExpression Pack(ParameterExpression result) =>
            Expression.Or(
                Expression.Or(
                    Expression.Convert(Expression.Property(result, "Count"), typeof(long)),
                    Expression.LeftShift(Expression.Convert(Expression.Convert(Expression.Property(result, "MessageType"), typeof(int)), typeof(long)), Expression.Constant(32))),
                Expression.Condition(Expression.Property(result, "EndOfMessage"), Expression.Constant(1L << 40), Expression.Constant(0L)));

        private static ReceivedChunk Unpack(long packed) =>
            new ReceivedChunk((int)(packed & 0xFFFFFFFF), (WebSocketMessageType)(int)((packed >> 32) & 0xFF), (packed & (1L << 40)) != 0);

        /// <summary>
        /// Starts a receive into <paramref name="buffer"/>[offset, offset+count) (with <paramref name="forceArraySegment"/>,
        /// on the ArraySegment overload even where the Memory one exists: the tests run both). True with the chunk when it
        /// completed at once; false with the task to await, then <see cref="ResultOf"/> (awaiting it throws
        /// what the receive failed with).
        /// </summary>
        internal static bool TryReceive(WebSocket socket, byte[] buffer, int offset, int count, bool forceArraySegment, out ReceivedChunk chunk, out Task? pending)
        {
            if (FastReceive != null && !forceArraySegment)
            {
                long packed = FastReceive(socket, new Memory<byte>(buffer, offset, count), out pending);
                chunk = packed >= 0 ? Unpack(packed) : default;
                return packed >= 0;
            }

            Task<WebSocketReceiveResult> receive = socket.ReceiveAsync(new ArraySegment<byte>(buffer, offset, count), CancellationToken.None);
            if (receive.Status == TaskStatus.RanToCompletion)
            {
                WebSocketReceiveResult r = receive.Result;
                chunk = new ReceivedChunk(r.Count, r.MessageType, r.EndOfMessage);
                pending = null;
                return true;
            }
            chunk = default;
            pending = receive;
            return false;
        }

        /// <summary>The chunk of a receive that <see cref="TryReceive"/> left pending, once that task has completed.</summary>
        internal static ReceivedChunk ResultOf(Task completed)
        {
            if (completed is Task<WebSocketReceiveResult> classic)
            {
                WebSocketReceiveResult r = classic.Result;
                return new ReceivedChunk(r.Count, r.MessageType, r.EndOfMessage);
            }
            return Unpack(FastResult!(completed));
        }
    }
}
