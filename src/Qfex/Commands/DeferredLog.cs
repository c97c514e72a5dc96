using System.Collections.Concurrent;
using System.Management.Automation;

namespace Qfex.Commands
{
    /// <summary>
    /// Verbose lines produced on worker threads, written later from the pipeline thread (the only one
    /// allowed to write). Lines never contain secrets: callers log key ids, never key material.
    /// </summary>
    internal sealed class DeferredLog
    {
        private readonly ConcurrentQueue<string> _lines = new ConcurrentQueue<string>();

        internal void Add(string line) => _lines.Enqueue(line);

        internal void WriteTo(Cmdlet cmdlet)
        {
            while (_lines.TryDequeue(out string? line))
                cmdlet.WriteVerbose(line);
        }
    }
}
