using System;
using System.Collections.Generic;
using System.Linq;

namespace Qfex.Transport
{
    /// <summary>
    /// The symbols a session has seen: of the orders in its order answers, of the requests it sent and of the trades
    /// and leverage settings the trading cmdlets read. What -Symbol tab-completes. Bounded (the first 1,000), safe
    /// between threads.
    /// </summary>
    internal sealed class SymbolIndex
    {
        internal const int Capacity = 1000;
        private readonly HashSet<string> _symbols = new HashSet<string>(StringComparer.Ordinal);

        internal void Add(string symbol)
        {
            if (string.IsNullOrWhiteSpace(symbol) || symbol.Length > 64) return;
            lock (_symbols)
                if (_symbols.Count < Capacity) _symbols.Add(symbol);
        }

        /// <summary>The symbols, sorted.</summary>
        internal string[] Snapshot()
        {
            lock (_symbols) return _symbols.OrderBy(s => s, StringComparer.Ordinal).ToArray();
        }
    }
}
