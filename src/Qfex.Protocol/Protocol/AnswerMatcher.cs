using System;
using System.Text.Json;

namespace Qfex.Protocol
{
    /// <summary>
    /// Recognises the frame that answers a request. The protocol has no request id (protocol doc §4.5):
    /// answers are matched by their key plus the ids the request carried (client_order_id, order_id,
    /// stop_order_id, channel), and error frames by the request they echo. An error frame that echoes
    /// nothing is never taken for an answer: it stays in the buffer for Receive-QfexFrame.
    /// modify_order: the exchange may answer with a new order_id (protocol doc §3.2), so its answer is an
    /// order_response with status MODIFIED or a refusing status whose order_id is the one the request named, or
    /// whose client_order_id is the one the session last saw on that order (the session keeps an index of the
    /// order_responses it received). Stop-order requests are also answered by stop_order_response or a bare ack.
    /// </summary>
    internal sealed class AnswerMatcher
    {
        private readonly string _type;
        private readonly string? _clientOrderId;
        private readonly string? _orderId;
        private readonly string? _stopOrderId;
        private readonly string? _channel;
        private readonly Func<string, string?>? _clientIdOfOrder;

        /// <param name="clientIdOfOrder">For modify_order: the client_order_id the session knows for an order_id (null: unknown).</param>
        internal AnswerMatcher(string type, JsonElement parameters, Func<string, string?>? clientIdOfOrder = null)
        {
            _type = type;
            _clientIdOfOrder = clientIdOfOrder;
            _clientOrderId = PSJson.GetString(parameters, "client_order_id");
            _orderId = PSJson.GetString(parameters, "order_id");
            _stopOrderId = PSJson.GetString(parameters, "stop_order_id");
            if (parameters.ValueKind == JsonValueKind.Object && parameters.TryGetProperty("channels", out JsonElement channels)
                && channels.ValueKind == JsonValueKind.Array && channels.GetArrayLength() > 0 && channels[0].ValueKind == JsonValueKind.String)
                _channel = PSJson.StringValue(channels[0]);
        }

        internal bool Matches(QfexFrame frame)
        {
            if (frame.IsMalformed) return false;
            try
            {
                using JsonDocument doc = JsonDocument.Parse(frame.Utf8);
                JsonElement root = doc.RootElement;
                if (frame.IsError)
                {
                    JsonElement body = root.TryGetProperty("err", out JsonElement err) ? err : root;
                    return body.TryGetProperty("incoming_message", out JsonElement echo) && echo.ValueKind == JsonValueKind.Object
                        && PSJson.GetString(echo, "type") == _type
                        && IdsAgree(echo.TryGetProperty("params", out JsonElement p) ? p : default);
                }

                switch (frame.Type)
                {
                    case "order_response":
                        if (!IsOrderRequest || !root.TryGetProperty("order_response", out JsonElement order)) return false;
                        return _type == "modify_order" ? AnswersModify(order) : IdsAgree(order, orderResponse: true);
                    case "stop_order_response":
                        return (_type == "add_order" || _type == "cancel_stop_order" || _type == "modify_stop_order")
                            && root.TryGetProperty("stop_order_response", out JsonElement stop) && IdsAgree(stop);
                    case "subscribed":
                        return _type == "subscribe" && (_channel == null || PSJson.GetString(root, "subscribed") == _channel || root.TryGetProperty("channels", out _));
                    case "unsubscribed":
                        return _type == "unsubscribe" && (_channel == null || PSJson.GetString(root, "unsubscribed") == _channel || root.TryGetProperty("channels", out _));
                    case "ack":
                        return root.TryGetProperty("ack", out JsonElement ack) && ack.ValueKind == JsonValueKind.Object
                            && ack.TryGetProperty("incoming_message", out JsonElement incoming)
                            ? PSJson.GetString(incoming, "type") == _type && IdsAgree(incoming.TryGetProperty("params", out JsonElement ip) ? ip : default)
                            : IsAckOnly;
                    case "ack_response":
                        return IsAckOnly;
                    case "all_orders_response":
                        return _type == "get_user_orders" || _type == "get_order";
                    case "user_trades_response":
                    case "user_trades":
                        return _type == "get_user_trades";
                    case "user_leverage_response":
                        return _type == "get_user_leverage";
                    case "available_leverage_levels_response":
                        return _type == "get_available_leverage_levels";
                    case "twap_response":
                        return _type == "add_twap";
                    default:
                        return false;
                }
            }
            catch (Exception e) when (e is JsonException || e is InvalidOperationException || e is ArgumentException)
            {
                return false;
            }
        }

        private bool IsOrderRequest => AnswersOnOrderResponses(_type) || _type == "get_order";

        /// <summary>Requests answered by order_response frames, which the exchange sends only to order_responses subscribers.</summary>
        internal static bool AnswersOnOrderResponses(string type) =>
            type == "add_order" || type == "close_position" || type == "cancel_order" || type == "modify_order"
            || type == "cancel_stop_order" || type == "modify_stop_order";

        /// <summary>Requests that a bare acknowledgement (one that echoes nothing) may answer.</summary>
        private bool IsAckOnly => _type == "cancel_on_disconnect" || _type == "set_user_leverage" || _type == "cancel_all_orders"
            || _type == "cancel_stop_order" || _type == "modify_stop_order";

        private static readonly string[] AcceptingStatuses = { "ACK", "FILLED", "MODIFIED", "CANCELLED", "CANCELLED_STP" };

        /// <summary>
        /// The answer to modify_order: MODIFIED or a refusal (a fill or cancel of that order is not one), for the
        /// order id named, or, when the exchange assigned a new id, for the order's client_order_id.
        /// </summary>
        private bool AnswersModify(JsonElement order)
        {
            string? status = PSJson.GetString(order, "status");
            if (status == null || (status != "MODIFIED" && Array.IndexOf(AcceptingStatuses, status) >= 0)) return false;
            if (_orderId == null) return true;
            if (Same(order, "order_id", _orderId)) return true;
            string? clientId = _clientOrderId ?? _clientIdOfOrder?.Invoke(_orderId);
            return !string.IsNullOrEmpty(clientId) && Same(order, "client_order_id", clientId!);
        }

        /// <summary>Every id the request set must be equal in the candidate (an id the candidate lacks does not disagree).</summary>
        private bool IdsAgree(JsonElement candidate, bool orderResponse = false)
        {
            if (candidate.ValueKind != JsonValueKind.Object)
                return _clientOrderId == null && _orderId == null && _stopOrderId == null;
            if (_clientOrderId != null && !Same(candidate, "client_order_id", _clientOrderId)) return false;
            if (_orderId != null && !Same(candidate, "order_id", _orderId)
                && !(orderResponse && Same(candidate, "client_order_id", _orderId))) return false;
            if (_stopOrderId != null && !Same(candidate, orderResponse ? "order_id" : "stop_order_id", _stopOrderId)) return false;
            return true;
        }

        private static bool Same(JsonElement obj, string name, string expected) =>
            PSJson.GetString(obj, name) is string actual && string.Equals(actual, expected, StringComparison.Ordinal);
    }
}
