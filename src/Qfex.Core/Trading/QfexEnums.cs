using System;
using System.Globalization;
using System.Text;

namespace Qfex
{
    /// <summary>The side of an order or trade (the exchange's BUY and SELL).</summary>
    public enum QfexSide
    {
        Buy,
        Sell,
    }

    /// <summary>
    /// The type of an order (the exchange's LIMIT, MARKET, ALO, TAKE_PROFIT, STOP_LOSS; answers may also say
    /// STOP_MARKET, which no request can place).
    /// </summary>
    public enum QfexOrderType
    {
        Limit,
        Market,
        /// <summary>Add-liquidity-only (post-only): refused if it would cross.</summary>
        Alo,
        TakeProfit,
        StopLoss,
        /// <summary>Seen in the exchange's answers only.</summary>
        StopMarket,
    }

    /// <summary>How long an order lives (the exchange's GTC, IOC, FOK).</summary>
    public enum QfexTimeInForce
    {
        /// <summary>Good till cancelled.</summary>
        Gtc,
        /// <summary>Immediate or cancel.</summary>
        Ioc,
        /// <summary>Fill or kill.</summary>
        Fok,
    }

    /// <summary>
    /// An order's status (the exchange's order_response status, protocol doc §4.3): the five that accept the request,
    /// then the documented refusals. A status this version of Qfex does not know is Unknown (the order's Frame has it
    /// as sent). FILLED may be partial: see QuantityRemaining.
    /// </summary>
    public enum QfexOrderStatus
    {
        Unknown,
        Ack,
        Filled,
        Modified,
        Cancelled,
        /// <summary>Cancelled by self-trade prevention.</summary>
        CancelledStp,
        Rejected,
        NoSuchOrder,
        InvalidOrderType,
        BadSymbol,
        PriceLessThanMinPrice,
        PriceGreaterThanMaxPrice,
        CannotModifyPartialFill,
        FailedMarginCheck,
        InvalidTickSizePrecisionPrice,
        InvalidTickSizePrecisionQuantity,
        QuantityLessThanMinQuantity,
        QuantityGreaterThanMaxQuantity,
        InvalidTimeInForce,
        RejectedWouldBreachMaxNotional,
        CannotModifyNoSuchOrder,
        RejectedMarketClosed,
        RejectedFailedToProcess,
        /// <summary>INVALID_TAKEPROFIT_PRICE (also spelled INVALID_TAKE_PROFIT_PRICE).</summary>
        InvalidTakeProfitPrice,
        /// <summary>INVALID_STOPLOSS_PRICE (also spelled INVALID_STOP_LOSS_PRICE).</summary>
        InvalidStopLossPrice,
        RateLimited,
        RejectedTooManyOpenOrders,
        RejectedOpenInterestLimit,
    }

    /// <summary>The exchange's spelling of the enums (BUY, TAKE_PROFIT, GTC, CANCELLED_STP) and back.</summary>
    internal static class QfexWire
    {
        /// <summary>TakeProfit becomes TAKE_PROFIT: an underscore before each inner capital, all upper case.</summary>
        internal static string Of<TEnum>(TEnum value) where TEnum : struct, Enum
        {
            string name = value.ToString();
            var text = new StringBuilder(name.Length + 4);
            for (int i = 0; i < name.Length; i++)
            {
                if (i > 0 && char.IsUpper(name[i])) text.Append('_');
                text.Append(char.ToUpperInvariant(name[i]));
            }
            return text.ToString();
        }

        /// <summary>TAKE_PROFIT (or take_profit, TAKEPROFIT) becomes TakeProfit; null for a value the enum does not have.</summary>
        internal static TEnum? Parse<TEnum>(string? wire) where TEnum : struct, Enum
        {
            if (string.IsNullOrWhiteSpace(wire)) return null;
            string name = wire!.Replace("_", string.Empty).Trim();
            if (name.Length == 0 || char.IsDigit(name[0]) || name[0] == '-') return null;   // names only, never numbers
            return Enum.TryParse(name, ignoreCase: true, out TEnum value) && Enum.IsDefined(typeof(TEnum), value) ? value : (TEnum?)null;
        }

        /// <summary>A number as the exchange would write it, without trailing zeros: 200.0 is "200", 0.50 is "0.5".</summary>
        internal static string Number(decimal value) => value.ToString("0.############################", CultureInfo.InvariantCulture);
    }
}
