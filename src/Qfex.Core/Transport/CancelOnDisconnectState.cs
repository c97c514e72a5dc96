using System.Text.Json;
using Qfex.Protocol;

namespace Qfex.Transport
{
    /// <summary>
    /// Whether cancel-on-disconnect is on for the session: set by Connect-Qfex -CancelOnDisconnect and by a
    /// cancel_on_disconnect request sent with Send-QfexMessage (true or false), undone when the exchange refuses
    /// that request (an error frame echoing it) or it was never sent. A reconnect turns it on again when it is on,
    /// and the qfex.reconnected frame reports it. Safe between threads.
    /// </summary>
    internal sealed class CancelOnDisconnectState
    {
        private readonly object _gate = new object();
        private bool _value;
        private bool _before;

        internal CancelOnDisconnectState(bool initial) => _value = _before = initial;

        internal bool Value
        {
            get { lock (_gate) return _value; }
        }

        /// <summary>A cancel_on_disconnect request is about to be written; returns its value (null: not such a request).</summary>
        internal bool? Sending(string type, string json)
        {
            if (type != "cancel_on_disconnect") return null;
            bool? value = ValueOf(json);
            if (value == null) return null;
            lock (_gate)
            {
                _before = _value;
                _value = value.Value;
            }
            return value;
        }

        /// <summary>The request asking for <paramref name="value"/> was not sent, or the exchange refused it: back to before.</summary>
        internal void Undo(bool value)
        {
            lock (_gate)
                if (_value == value) _value = _before;
        }

        /// <summary>An error frame echoing a cancel_on_disconnect request undoes it.</summary>
        internal void Track(QfexFrame frame)
        {
            if (frame.Error?.IncomingType != "cancel_on_disconnect") return;
            try
            {
                using JsonDocument doc = JsonDocument.Parse(frame.Utf8);
                JsonElement root = doc.RootElement;
                JsonElement body = root.TryGetProperty("err", out JsonElement err) ? err : root;
                if (body.TryGetProperty("incoming_message", out JsonElement echo) && echo.TryGetProperty("params", out JsonElement p)
                    && p.ValueKind == JsonValueKind.Object && p.TryGetProperty("cancel_on_disconnect", out JsonElement v)
                    && (v.ValueKind == JsonValueKind.True || v.ValueKind == JsonValueKind.False))
                    Undo(v.ValueKind == JsonValueKind.True);
            }
            catch (JsonException)
            {
                // Unreadable echo: nothing to undo.
            }
        }

        private static bool? ValueOf(string json)
        {
            try
            {
                using JsonDocument doc = JsonDocument.Parse(json);
                return doc.RootElement.TryGetProperty("params", out JsonElement p) && p.ValueKind == JsonValueKind.Object
                    && p.TryGetProperty("cancel_on_disconnect", out JsonElement v)
                    && (v.ValueKind == JsonValueKind.True || v.ValueKind == JsonValueKind.False)
                    ? v.ValueKind == JsonValueKind.True : (bool?)null;
            }
            catch (JsonException)
            {
                return null;
            }
        }
    }
}
