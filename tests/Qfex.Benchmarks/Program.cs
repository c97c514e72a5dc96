using System;
using System.Collections.Generic;
using System.Linq;

namespace Qfex.Benchmarks
{
    /// <summary>
    /// The Qfex benchmark: one harness process, one fake exchange on 127.0.0.1, every figure with its ratio to a
    /// raw C# baseline measured in the same run, each module line in real pwsh (a child process) and in the engine hosted here. See docs/performance.md for what each line means.
    /// </summary>
    internal static class Program
    {
        internal static readonly string[] Names = { "raw", "objects", "text", "foreach", "loop", "errors", "script", "roundtrip", "import", "flood" };

        private static int Main(string[] args)
        {
            // Child-process probes (a cold process each): they must not touch the Qfex assembly before
            // Import-Module loads it, so they are dispatched before anything else runs.
            if (args.Length > 0 && args[0] == ImportProbe.Switch) return ImportProbe.Run(args);
            if (args.Length > 0 && args[0] == FloodProbe.Switch) return FloodProbe.Run(args);

            Options? options = Options.Parse(args, out string? problem);
            if (options == null)
            {
                Console.Error.WriteLine(problem);
                Console.Error.WriteLine(Options.Usage);
                return 2;
            }
            if (options.Help)
            {
                Console.WriteLine(Options.Usage);
                return 0;
            }
            return Suite.RunAll(options);
        }
    }

    internal sealed class Options
    {
        internal const string Usage =
            "Usage: dotnet run -c Release --project tests/Qfex.Benchmarks -- [--quick] [--only name[,name...]] [--hosts pwsh|hosted|pwsh,hosted]\n" +
            "  --quick   smaller counts and the lines with targets only (whole run under 90 s)\n" +
            "  --only    run only these lines (the raw baselines they are compared with always run):\n" +
            "            raw, objects, text, foreach, loop, errors, script, roundtrip, import, flood\n" +
            "  --hosts   where the module lines run: pwsh (a real pwsh child process, the lines the targets apply to),\n" +
            "            hosted (the engine hosted in this process, for comparison); both by default";

        internal static readonly string[] HostNames = { "pwsh", "hosted" };

        internal bool Quick { get; private set; }
        internal bool Help { get; private set; }
        internal HashSet<string>? Only { get; private set; }
        internal HashSet<string> Hosts { get; private set; } = new HashSet<string>(HostNames, StringComparer.OrdinalIgnoreCase);

        internal bool Wants(string name) => Only == null || Only.Contains(name);

        internal static Options? Parse(string[] args, out string? problem)
        {
            var options = new Options();
            problem = null;
            for (int i = 0; i < args.Length; i++)
            {
                switch (args[i])
                {
                    case "--quick":
                        options.Quick = true;
                        break;
                    case "--help":
                    case "-h":
                        options.Help = true;
                        break;
                    case "--only":
                        if (i + 1 >= args.Length)
                        {
                            problem = "--only needs a name.";
                            return null;
                        }
                        options.Only ??= new HashSet<string>(StringComparer.OrdinalIgnoreCase);
                        foreach (string name in args[++i].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                        {
                            if (!Program.Names.Contains(name, StringComparer.OrdinalIgnoreCase))
                            {
                                problem = $"Unknown name '{name}'.";
                                return null;
                            }
                            options.Only.Add(name);
                        }
                        break;
                    case "--hosts":
                        if (i + 1 >= args.Length)
                        {
                            problem = "--hosts needs pwsh, hosted or both.";
                            return null;
                        }
                        options.Hosts = new HashSet<string>(args[++i].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries), StringComparer.OrdinalIgnoreCase);
                        if (options.Hosts.Count == 0 || options.Hosts.Any(h => !HostNames.Contains(h, StringComparer.OrdinalIgnoreCase)))
                        {
                            problem = "--hosts takes pwsh, hosted or pwsh,hosted.";
                            return null;
                        }
                        break;
                    default:
                        problem = $"Unknown argument '{args[i]}'.";
                        return null;
                }
            }
            return options;
        }
    }
}
