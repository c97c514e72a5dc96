using System;
using System.IO;
using System.Net.Sockets;
using System.Text;
using System.Threading;
using System.Threading.Tasks;

namespace Qfex
{
    /// <summary>One complete message read from a client (text, binary) or the end of the connection (close).</summary>
    internal readonly struct WsMessage
    {
        private WsMessage(QfexTestServerOpcode type, string? text, byte[]? data)
        {
            Type = type;
            Text = text;
            Data = data;
        }

        /// <summary>Text, Binary or Close (Close also stands for a connection that ended without a close frame).</summary>
        internal QfexTestServerOpcode Type { get; }
        internal string? Text { get; }
        internal byte[]? Data { get; }

        internal static WsMessage ForText(string text) => new WsMessage(QfexTestServerOpcode.Text, text, null);
        internal static WsMessage ForBinary(byte[] data) => new WsMessage(QfexTestServerOpcode.Binary, null, data);
        internal static WsMessage Closed => new WsMessage(QfexTestServerOpcode.Close, null, null);
    }

    /// <summary>
    /// The server side of one WebSocket connection at the frame level (RFC 6455), written by hand
    /// because netstandard2.0 has no server WebSocket. Reads masked client frames (reassembling
    /// fragmented messages, answering ping with pong and close with close), writes unmasked frames
    /// with 7/16/64-bit lengths, and serialises all writes (one writer at a time). Also exposes raw
    /// writes (any opcode, any FIN bit, any bytes) and abrupt aborts for fault injection.
    /// </summary>
    internal sealed class WsServerSocket : IDisposable
    {
        private const int InputBufferSize = 16 * 1024;
        private const int SendBufferSize = 16 * 1024;

        private readonly Socket _socket;
        private readonly NetworkStream _stream;
        private readonly byte[] _in = new byte[InputBufferSize];
        private int _inPos;
        private int _inEnd;
        private readonly byte[] _mask = new byte[4];
        private byte[] _message = new byte[4096];

        private readonly SemaphoreSlim _sendLock = new SemaphoreSlim(1, 1);
        private readonly byte[] _sendBuffer = new byte[SendBufferSize];
        private readonly CancellationTokenSource _lifetime = new CancellationTokenSource();

        private int _closeSent;   // 1 once a close frame was sent (or is being sent)
        private int _closed;      // 1 once the TCP connection was shut down
        private int _outputShutdown; // 1 once the sending direction was shut down
        private long _pingsReceived;

        internal WsServerSocket(Socket socket)
        {
            _socket = socket ?? throw new ArgumentNullException(nameof(socket));
            _stream = new NetworkStream(socket, ownsSocket: true);
        }

        /// <summary>Largest message (sum of its fragments) accepted; a larger one is answered with close 1009.</summary>
        internal long MaxMessageBytes { get; set; } = 1024 * 1024;

        /// <summary>When true, pings are counted but not answered (fault injection).</summary>
        internal bool WithholdPongs { get; set; }

        /// <summary>How long to wait for the client's close reply after sending a close frame before aborting TCP.</summary>
        internal TimeSpan CloseTimeout { get; set; } = TimeSpan.FromSeconds(1);

        internal bool CloseSent => Volatile.Read(ref _closeSent) != 0;
        internal bool IsClosed => Volatile.Read(ref _closed) != 0;

        /// <summary>Pings received from the client (answered or withheld).</summary>
        internal long PingsReceived => Interlocked.Read(ref _pingsReceived);

        // ---------------------------------------------------------------- reading

        /// <summary>
        /// Reads the HTTP request head (up to and including the empty line) as Latin-1 text; bytes
        /// after it stay buffered for the frame reader. Null if the peer closed first or the head
        /// does not fit the buffer.
        /// </summary>
        internal async Task<string?> ReadHttpHeadAsync()
        {
            while (true)
            {
                for (int i = _inPos + 3; i < _inEnd; i++)
                {
                    if (_in[i] == '\n' && _in[i - 1] == '\r' && _in[i - 2] == '\n' && _in[i - 3] == '\r')
                    {
                        int length = i + 1 - _inPos;
                        var chars = new char[length];
                        for (int k = 0; k < length; k++)
                            chars[k] = (char)_in[_inPos + k];
                        _inPos += length;
                        return new string(chars);
                    }
                }
                if (_inEnd - _inPos >= _in.Length)
                    return null;
                try
                {
                    if (!await FillAsync().ConfigureAwait(false))
                        return null;
                }
                catch (Exception ex) when (IsConnectionFault(ex))
                {
                    return null;
                }
            }
        }

        /// <summary>
        /// Reads the next complete data message. Control frames are handled on the way (ping → pong
        /// unless withheld, pong ignored, close → close reply and TCP shutdown). Protocol violations
        /// are answered with a close frame (1002, 1007, 1009) and reading goes on until the client's
        /// close or the close timeout. Never throws for connection faults: a lost connection is
        /// reported as a Close message, like a close frame.
        /// </summary>
        internal async Task<WsMessage> ReadMessageAsync()
        {
            try
            {
                return await ReadMessageCoreAsync().ConfigureAwait(false);
            }
            catch (Exception ex) when (IsConnectionFault(ex))
            {
                return Ended();
            }
        }

        private async Task<WsMessage> ReadMessageCoreAsync()
        {
            bool inMessage = false;
            QfexTestServerOpcode messageType = QfexTestServerOpcode.Text;
            int length = 0;

            while (true)
            {
                if (!await EnsureAsync(2).ConfigureAwait(false))
                    return Ended();
                byte b0 = _in[_inPos];
                byte b1 = _in[_inPos + 1];
                bool fin = (b0 & 0x80) != 0;
                bool rsv = (b0 & 0x70) != 0;
                var opcode = (QfexTestServerOpcode)(b0 & 0x0F);
                bool masked = (b1 & 0x80) != 0;
                int len7 = b1 & 0x7F;
                int headerLength = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + (masked ? 4 : 0);
                if (!await EnsureAsync(headerLength).ConfigureAwait(false))
                    return Ended();

                int p = _inPos + 2;
                long payloadLength = len7;
                if (len7 == 126)
                {
                    payloadLength = (_in[p] << 8) | _in[p + 1];
                    p += 2;
                }
                else if (len7 == 127)
                {
                    ulong value = 0;
                    for (int i = 0; i < 8; i++)
                        value = (value << 8) | _in[p + i];
                    p += 8;
                    payloadLength = value > long.MaxValue ? -1 : (long)value;
                }
                if (masked)
                {
                    Buffer.BlockCopy(_in, p, _mask, 0, 4);
                }
                else
                {
                    _mask[0] = _mask[1] = _mask[2] = _mask[3] = 0;
                }
                _inPos += headerLength;

                string? violation =
                    payloadLength < 0 ? "The 64-bit payload length has its most significant bit set." :
                    rsv ? "Reserved bits are set but no extension was negotiated." :
                    !masked ? "Client frames must be masked." :
                    !WsFrameCodec.IsKnown(opcode) ? "Unknown opcode." :
                    WsFrameCodec.IsControl(opcode) && (!fin || payloadLength > WsFrameCodec.MaxControlPayload) ? "Control frames must not be fragmented or longer than 125 bytes." :
                    null;
                if (violation != null)
                {
                    await FailAsync(WsCloseStatus.ProtocolError, violation).ConfigureAwait(false);
                    if (payloadLength < 0 || !await SkipAsync(payloadLength).ConfigureAwait(false))
                        return Ended();
                    continue;
                }

                if (WsFrameCodec.IsControl(opcode))
                {
                    var payload = new byte[payloadLength];
                    if (!await ReadExactAsync(payload, 0, payload.Length).ConfigureAwait(false))
                        return Ended();
                    WsFrameCodec.Unmask(payload, 0, payload.Length, _mask, 0);
                    switch (opcode)
                    {
                        case QfexTestServerOpcode.Ping:
                            Interlocked.Increment(ref _pingsReceived);
                            if (!WithholdPongs && !CloseSent)
                                await SendFrameAsync(QfexTestServerOpcode.Pong, payload, 0, payload.Length).ConfigureAwait(false);
                            continue;
                        case QfexTestServerOpcode.Pong:
                            continue;
                        default:
                            return await OnCloseFrameAsync(payload).ConfigureAwait(false);
                    }
                }

                // Data frames. After our close frame, data is read and dropped (RFC 6455 5.5.1).
                if (CloseSent)
                {
                    if (!await SkipAsync(payloadLength).ConfigureAwait(false))
                        return Ended();
                    continue;
                }

                if (opcode == QfexTestServerOpcode.Continuation)
                {
                    if (!inMessage)
                    {
                        await FailAsync(WsCloseStatus.ProtocolError, "Continuation frame without a message to continue.").ConfigureAwait(false);
                        if (!await SkipAsync(payloadLength).ConfigureAwait(false))
                            return Ended();
                        continue;
                    }
                }
                else
                {
                    if (inMessage)
                    {
                        await FailAsync(WsCloseStatus.ProtocolError, "A new message started before the fragmented one ended.").ConfigureAwait(false);
                        if (!await SkipAsync(payloadLength).ConfigureAwait(false))
                            return Ended();
                        continue;
                    }
                    inMessage = true;
                    messageType = opcode;
                    length = 0;
                }

                if (length + payloadLength > MaxMessageBytes)
                {
                    // Bounded memory: the payload is skipped, never buffered.
                    await FailAsync(WsCloseStatus.MessageTooBig, "Message too big.").ConfigureAwait(false);
                    if (!await SkipAsync(payloadLength).ConfigureAwait(false))
                        return Ended();
                    inMessage = false;
                    continue;
                }

                int count = (int)payloadLength;
                EnsureMessageCapacity(length + count);
                if (!await ReadExactAsync(_message, length, count).ConfigureAwait(false))
                    return Ended();
                WsFrameCodec.Unmask(_message, length, count, _mask, 0);
                length += count;
                if (!fin)
                    continue;

                inMessage = false;
                if (messageType == QfexTestServerOpcode.Text)
                {
                    string text;
                    try
                    {
                        text = WsFrameCodec.StrictUtf8.GetString(_message, 0, length);
                    }
                    catch (DecoderFallbackException)
                    {
                        await FailAsync(WsCloseStatus.InvalidPayload, "Text message is not valid UTF-8.").ConfigureAwait(false);
                        continue;
                    }
                    return WsMessage.ForText(text);
                }
                var data = new byte[length];
                Buffer.BlockCopy(_message, 0, data, 0, length);
                return WsMessage.ForBinary(data);
            }
        }

        private async Task<WsMessage> OnCloseFrameAsync(byte[] payload)
        {
            // Echo the client's status (1002 for a one-byte payload, 1007 for a reason that is not UTF-8).
            int replyStatus = WsCloseStatus.NoStatus;
            if (payload.Length == 1)
            {
                replyStatus = WsCloseStatus.ProtocolError;
            }
            else if (payload.Length >= 2)
            {
                replyStatus = (payload[0] << 8) | payload[1];
                try
                {
                    _ = WsFrameCodec.StrictUtf8.GetString(payload, 2, payload.Length - 2);
                }
                catch (DecoderFallbackException)
                {
                    replyStatus = WsCloseStatus.InvalidPayload;
                }
            }

            if (Interlocked.CompareExchange(ref _closeSent, 1, 0) == 0)
            {
                // The client started the close: echo its status, then end TCP (the server closes first).
                try
                {
                    await SendFrameCoreAsync((byte)QfexTestServerOpcode.Close, WsFrameCodec.EncodeClosePayload(replyStatus, null), true).ConfigureAwait(false);
                }
                catch (Exception ex) when (IsConnectionFault(ex))
                {
                }
            }
            Abort(reset: false);
            return WsMessage.Closed;
        }

        private WsMessage Ended()
        {
            Abort(reset: false);
            return WsMessage.Closed;
        }

        private async Task<bool> FillAsync()
        {
            if (_inPos > 0 && (_inEnd == _in.Length || _inPos == _inEnd))
            {
                int remaining = _inEnd - _inPos;
                if (remaining > 0)
                    Buffer.BlockCopy(_in, _inPos, _in, 0, remaining);
                _inPos = 0;
                _inEnd = remaining;
            }
            int read = await _stream.ReadAsync(_in, _inEnd, _in.Length - _inEnd, _lifetime.Token).ConfigureAwait(false);
            if (read <= 0)
                return false;
            _inEnd += read;
            return true;
        }

        /// <summary>Makes at least <paramref name="count"/> (≤ buffer size) bytes available in the input buffer.</summary>
        private async Task<bool> EnsureAsync(int count)
        {
            while (_inEnd - _inPos < count)
            {
                if (_in.Length - _inPos < count)
                {
                    int remaining = _inEnd - _inPos;
                    Buffer.BlockCopy(_in, _inPos, _in, 0, remaining);
                    _inPos = 0;
                    _inEnd = remaining;
                }
                if (!await FillAsync().ConfigureAwait(false))
                    return false;
            }
            return true;
        }

        private async Task<bool> ReadExactAsync(byte[] target, int offset, int count)
        {
            while (count > 0)
            {
                int buffered = Math.Min(count, _inEnd - _inPos);
                if (buffered > 0)
                {
                    Buffer.BlockCopy(_in, _inPos, target, offset, buffered);
                    _inPos += buffered;
                    offset += buffered;
                    count -= buffered;
                    continue;
                }
                if (count < _in.Length / 2)
                {
                    // Small remainder: read through the buffer (also reads ahead the next frames).
                    if (!await EnsureAsync(count).ConfigureAwait(false))
                        return false;
                    continue;
                }
                int read = await _stream.ReadAsync(target, offset, count, _lifetime.Token).ConfigureAwait(false);
                if (read <= 0)
                    return false;
                offset += read;
                count -= read;
            }
            return true;
        }

        private async Task<bool> SkipAsync(long count)
        {
            while (count > 0)
            {
                int buffered = (int)Math.Min(count, _inEnd - _inPos);
                _inPos += buffered;
                count -= buffered;
                if (count == 0)
                    break;
                _inPos = _inEnd = 0;
                if (!await FillAsync().ConfigureAwait(false))
                    return false;
            }
            return true;
        }

        private void EnsureMessageCapacity(int needed)
        {
            if (needed <= _message.Length)
                return;
            long size = _message.Length;
            while (size < needed)
                size *= 2;
            var bigger = new byte[Math.Min(size, int.MaxValue)];
            Buffer.BlockCopy(_message, 0, bigger, 0, _message.Length);
            _message = bigger;
        }

        // ---------------------------------------------------------------- writing

        /// <summary>Sends one frame (FIN set) unless a close frame was already sent.</summary>
        internal async Task<bool> SendFrameAsync(QfexTestServerOpcode opcode, byte[] payload, int offset, int count, bool fin = true)
        {
            if (CloseSent || IsClosed)
                return false;
            await SendFrameCoreAsync((byte)opcode, payload, offset, count, fin).ConfigureAwait(false);
            return true;
        }

        /// <summary>
        /// Fault injection: writes a frame with any opcode nibble and FIN bit, ignoring the close
        /// state (e.g. a binary frame, invalid UTF-8 text, a fragment without its continuation).
        /// </summary>
        internal Task SendRawFrameAsync(byte opcode, byte[] payload, bool fin) =>
            SendFrameCoreAsync(opcode, payload, 0, payload.Length, fin);

        /// <summary>Writes bytes as they are (the handshake's HTTP response).</summary>
        internal async Task SendRawBytesAsync(byte[] bytes, Action? beforeWrite = null)
        {
            await _sendLock.WaitAsync().ConfigureAwait(false);
            try
            {
                beforeWrite?.Invoke();
                await _stream.WriteAsync(bytes, 0, bytes.Length, _lifetime.Token).ConfigureAwait(false);
            }
            finally
            {
                _sendLock.Release();
            }
        }

        private Task SendFrameCoreAsync(byte opcode, byte[] payload, bool fin) =>
            SendFrameCoreAsync(opcode, payload, 0, payload.Length, fin);

        private async Task SendFrameCoreAsync(byte opcode, byte[] payload, int offset, int count, bool fin)
        {
            await _sendLock.WaitAsync().ConfigureAwait(false);
            try
            {
                int header = WsFrameCodec.WriteHeader(_sendBuffer, 0, opcode, fin, count);
                if (header + count <= _sendBuffer.Length)
                {
                    Buffer.BlockCopy(payload, offset, _sendBuffer, header, count);
                    await _stream.WriteAsync(_sendBuffer, 0, header + count, _lifetime.Token).ConfigureAwait(false);
                }
                else
                {
                    await _stream.WriteAsync(_sendBuffer, 0, header, _lifetime.Token).ConfigureAwait(false);
                    await _stream.WriteAsync(payload, offset, count, _lifetime.Token).ConfigureAwait(false);
                }
            }
            finally
            {
                _sendLock.Release();
            }
        }

        /// <summary>
        /// Writes <paramref name="count"/> copies of one pre-encoded frame. <paramref name="chunk"/>
        /// holds <paramref name="framesPerChunk"/> back-to-back copies of it (shared, read-only), so
        /// the loop allocates nothing per frame. Holds the send lock for the whole flood.
        /// </summary>
        internal async Task<long> FloodAsync(byte[] chunk, int frameLength, int framesPerChunk, long count, CancellationToken cancellationToken)
        {
            if (CloseSent || IsClosed)
                return 0;
            long sent = 0;
            await _sendLock.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _lifetime.Token);
                while (sent < count && !linked.IsCancellationRequested)
                {
                    int frames = (int)Math.Min(framesPerChunk, count - sent);
                    await _stream.WriteAsync(chunk, 0, frames * frameLength, linked.Token).ConfigureAwait(false);
                    sent += frames;
                }
                await _stream.FlushAsync(linked.Token).ConfigureAwait(false);
            }
            finally
            {
                _sendLock.Release();
            }
            return sent;
        }

        /// <summary>
        /// Starts the closing handshake: sends a close frame with this status and reason, then waits
        /// (in the background) at most <see cref="CloseTimeout"/> for the client's reply before
        /// aborting TCP. The reply itself is consumed by <see cref="ReadMessageAsync"/>. False if a
        /// close frame was already sent.
        /// </summary>
        internal async Task<bool> CloseAsync(int status, string? reason)
        {
            if (Interlocked.CompareExchange(ref _closeSent, 1, 0) != 0)
                return false;
            _ = AbortAfterAsync(CloseTimeout);
            try
            {
                await SendFrameCoreAsync((byte)QfexTestServerOpcode.Close, WsFrameCodec.EncodeClosePayload(status, reason), true).ConfigureAwait(false);
            }
            catch (Exception ex) when (IsConnectionFault(ex))
            {
                Abort(reset: false);
            }
            return true;
        }

        private async Task FailAsync(int status, string reason)
        {
            try
            {
                await CloseAsync(status, reason).ConfigureAwait(false);
            }
            catch (Exception ex) when (IsConnectionFault(ex))
            {
            }
        }

        private async Task AbortAfterAsync(TimeSpan delay)
        {
            try
            {
                await Task.Delay(delay, _lifetime.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            Abort(reset: false);
        }

        /// <summary>
        /// Half-closes TCP (FIN) after a close frame: the client reads the close frame and then the
        /// end of the stream, while its close reply can still arrive (no RST). The socket is fully
        /// closed when the reply or EOF is read, or after <see cref="CloseTimeout"/>.
        /// </summary>
        internal void ShutdownOutput()
        {
            if (IsClosed || Interlocked.Exchange(ref _outputShutdown, 1) != 0)
                return;
            try
            {
                _socket.Shutdown(SocketShutdown.Send);
            }
            catch (Exception ex) when (IsConnectionFault(ex))
            {
            }
        }

        /// <summary>True once <see cref="ShutdownOutput"/> was called: nothing more can be sent.</summary>
        internal bool OutputShutdown => Volatile.Read(ref _outputShutdown) != 0;

        /// <summary>
        /// Ends TCP without (further) WebSocket handshake. <paramref name="reset"/> true sends an RST
        /// (abortive close, linger 0); false a normal FIN.
        /// </summary>
        internal void Abort(bool reset)
        {
            if (Interlocked.Exchange(ref _closed, 1) != 0)
                return;
            try
            {
                if (reset)
                    _socket.LingerState = new LingerOption(true, 0);
                else
                    _socket.Shutdown(SocketShutdown.Both);
            }
            catch (Exception ex) when (IsConnectionFault(ex))
            {
            }
            try
            {
                _socket.Close();
            }
            catch (Exception ex) when (IsConnectionFault(ex))
            {
            }
            try
            {
                _lifetime.Cancel();
            }
            catch (ObjectDisposedException)
            {
            }
        }

        public void Dispose()
        {
            Abort(reset: false);
            try
            {
                _stream.Dispose();
            }
            catch (Exception ex) when (IsConnectionFault(ex))
            {
            }
        }

        internal static bool IsConnectionFault(Exception ex) =>
            ex is IOException || ex is SocketException || ex is ObjectDisposedException ||
            ex is OperationCanceledException || ex is InvalidOperationException;
    }
}
