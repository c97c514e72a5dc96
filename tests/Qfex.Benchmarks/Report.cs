using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;

namespace Qfex.Benchmarks
{
    internal enum Verdict
    {
        Baseline,
        Info,
        Pass,
        Miss,
        Failed,
    }

    /// <summary>Where a line ran: the table groups its lines by it.</summary>
    internal enum Where
    {
        /// <summary>A raw C# baseline, in the harness process.</summary>
        Raw,
        /// <summary>In a real pwsh child process: the lines the targets apply to.</summary>
        Pwsh,
        /// <summary>In the engine hosted in the harness process (as the tests host it): for comparison.</summary>
        Hosted,
    }

    /// <summary>One line of the table.</summary>
    internal sealed class Row
    {
        internal string Id { get; init; } = "";
        internal string Name { get; init; } = "";
        internal double? Value { get; init; }
        internal string Unit { get; init; } = "";
        /// <summary>The figure over the raw baseline's figure (same unit, same run).</summary>
        internal double? VsRaw { get; init; }
        internal string Target { get; init; } = "";
        /// <summary>The number the target is checked against, as text ("0.42x", "38.1 MB, 0 lost").</summary>
        internal string Check { get; init; } = "";
        internal Verdict Verdict { get; init; }
        internal string Detail { get; init; } = "";
        internal string ValueFormat { get; init; } = "N0";
        internal Where Where { get; init; } = Where.Hosted;
    }

    internal sealed class Report
    {
        private readonly List<Row> _rows = new List<Row>();
        private readonly List<string> _notes = new List<string>();

        private static readonly System.Diagnostics.Stopwatch Clock = System.Diagnostics.Stopwatch.StartNew();

        /// <summary>A progress line on stderr, with the seconds since the run started.</summary>
        internal static void Progress(string text) =>
            Console.Error.WriteLine(Clock.Elapsed.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture).PadLeft(6) + " s  " + text);

        internal void Add(Row row)
        {
            _rows.Add(row);
            Progress($"[{row.Id}] {row.Name}: {Format(row.Value, row.ValueFormat)} {row.Unit} {(row.Verdict == Verdict.Pass || row.Verdict == Verdict.Miss ? row.Verdict.ToString().ToUpperInvariant() : "")}");
            if (row.Detail.Length > 0) Console.Error.WriteLine("          " + row.Detail);
        }

        internal void Failed(string id, string name, Exception e, Where? where = null) =>
            Add(new Row { Id = id, Name = name, Verdict = Verdict.Failed, Where = where ?? (id.StartsWith('P') ? Where.Pwsh : Where.Hosted), Detail = "FAILED: " + e.GetType().Name + ": " + e.Message + (Environment.GetEnvironmentVariable("QFEX_BENCH_TRACE") == "1" ? "\n" + e : "") });

        internal void Note(string note) => _notes.Add(note);

        internal IReadOnlyList<Row> Rows => _rows;

        private static readonly (Where Where, string Title)[] Groups =
        {
            (Where.Raw, "Raw C# baselines (this process)"),
            (Where.Pwsh, "Real pwsh (a child process, as users run it): the targets apply to these lines"),
            (Where.Hosted, "Hosted engine (in this process, as the tests host it): for comparison, no targets"),
        };

        /// <summary>The rows in table order: grouped by where they ran, in the order measured within a group.</summary>
        internal IEnumerable<Row> Ordered => Groups.SelectMany(g => _rows.Where(r => r.Where == g.Where));

        internal string Render(string header)
        {
            string[] titles = { "#", "Measurement", "Value", "Unit", "x raw", "Target", "Check", "Result" };
            var rows = Ordered.ToList();
            var cells = rows.Select(r => new[]
            {
                r.Id,
                r.Name,
                Format(r.Value, r.ValueFormat),
                r.Unit,
                r.VsRaw.HasValue ? r.VsRaw.Value.ToString("0.00", CultureInfo.InvariantCulture) + "x" : "-",
                r.Target.Length == 0 ? "-" : r.Target,
                r.Check.Length == 0 ? "-" : r.Check,
                r.Verdict switch
                {
                    Verdict.Baseline => "baseline",
                    Verdict.Info => "info",
                    Verdict.Pass => "PASS",
                    Verdict.Miss => "MISS",
                    _ => "FAILED",
                },
            }).ToList();
            int[] widths = titles.Select((t, i) => Math.Max(t.Length, cells.Count == 0 ? 0 : cells.Max(c => c[i].Length))).ToArray();
            bool[] right = { false, false, true, false, true, false, true, false };

            var sb = new StringBuilder();
            sb.AppendLine(header);
            sb.AppendLine(Line(titles, widths, right));
            sb.AppendLine(string.Join("  ", widths.Select(w => new string('-', w))).TrimEnd());
            Where? group = null;
            for (int i = 0; i < rows.Count; i++)
            {
                if (rows[i].Where != group)
                {
                    group = rows[i].Where;
                    sb.AppendLine("    " + Groups.First(g => g.Where == group).Title);
                }
                sb.AppendLine(Line(cells[i], widths, right));
            }
            sb.AppendLine();
            foreach (Row r in rows.Where(r => r.Detail.Length > 0))
                sb.AppendLine($"[{r.Id}] {r.Detail}");
            if (_notes.Count > 0) sb.AppendLine();
            foreach (string note in _notes) sb.AppendLine(note);
            return sb.ToString();
        }

        private static string Line(string[] cells, int[] widths, bool[] right) =>
            string.Join("  ", cells.Select((c, i) => right[i] ? c.PadLeft(widths[i]) : c.PadRight(widths[i]))).TrimEnd();

        internal static string Format(double? value, string format) =>
            value.HasValue ? value.Value.ToString(format, CultureInfo.InvariantCulture) : "-";
    }
}
