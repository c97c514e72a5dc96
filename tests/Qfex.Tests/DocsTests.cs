using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Management.Automation;
using System.Reflection;
using System.Text.RegularExpressions;
using Qfex.Errors;
using Xunit;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Qfex.Tests
{
    /// <summary>
    /// The help in docs/ against the engine's own command metadata (Get-Command on the built module):
    /// every exported cmdlet has a platyPS v2 page, every parameter is documented with the right type,
    /// sets, position and pipeline flags, its real default, nothing stale is documented, every page's YAML
    /// (front matter and parameter blocks) parses with a real YAML parser, no page claims an online link,
    /// and about_Qfex covers every error code and module ErrorId. Failures name the page, the cmdlet and
    /// the parameter.
    /// </summary>
    public sealed class DocsTests : IClassFixture<DocsTests.Metadata>
    {
        private static readonly string DocsDir = Path.Combine(PowerShellHost.RepoRoot, "docs");
        private static readonly string AboutHelpText = Path.Combine(DocsDir, "about_Qfex.help.txt");

        /// <summary>The sections of a platyPS v2 command page (schema 2024-05-01), in order.</summary>
        private static readonly string[] Sections =
            { "SYNOPSIS", "SYNTAX", "ALIASES", "DESCRIPTION", "EXAMPLES", "PARAMETERS", "INPUTS", "OUTPUTS", "NOTES", "RELATED LINKS" };

        private readonly Metadata _metadata;

        public DocsTests(Metadata metadata) => _metadata = metadata;

        [Fact]
        public void EveryExportedCmdletHasAPageAndEveryPageIsAnExportedCmdlet()
        {
            var failures = new List<string>();
            foreach (CmdletMeta cmdlet in _metadata.Cmdlets)
                if (!File.Exists(PagePath(cmdlet.Name)))
                    failures.Add($"{cmdlet.Name}: no help page docs/{cmdlet.Name}.md.");
            foreach (string page in Directory.GetFiles(DocsDir, "*-*.md"))
            {
                string name = Path.GetFileNameWithoutExtension(page);
                if (_metadata.Cmdlets.All(c => c.Name != name))
                    failures.Add($"docs/{name}.md documents '{name}', which the module does not export.");
            }
            AssertNone(failures);
        }

        [Fact]
        public void EveryPageHasThePlatyPSLayoutFrontMatterAndAtLeastTwoExamples()
        {
            var failures = new List<string>();
            foreach (CmdletMeta cmdlet in _metadata.Cmdlets)
            {
                HelpPage? page = HelpPage.Load(PagePath(cmdlet.Name));
                if (page == null) { failures.Add($"{cmdlet.Name}: no help page."); continue; }
                string where = $"{cmdlet.Name} (docs/{cmdlet.Name}.md)";

                var expectedFrontMatter = new Dictionary<string, string>
                {
                    ["document type"] = "cmdlet",
                    ["external help file"] = "Qfex.dll-Help.xml",
                    ["Module Name"] = "Qfex",
                    ["PlatyPS schema version"] = "2024-05-01",
                    ["title"] = cmdlet.Name,
                };
                foreach (var pair in expectedFrontMatter)
                    if (!page.FrontMatter.TryGetValue(pair.Key, out string? value) || value != pair.Value)
                        failures.Add($"{where}: front matter must have '{pair.Key}: {pair.Value}' (found '{value ?? "nothing"}').");
                if (page.Title != cmdlet.Name)
                    failures.Add($"{where}: the first heading must be '# {cmdlet.Name}' (found '# {page.Title}').");

                string[] found = page.H2.Select(h => h.Text).ToArray();
                if (!found.SequenceEqual(Sections))
                    failures.Add($"{where}: the sections must be {string.Join(", ", Sections)} in that order (found {string.Join(", ", found)}).");

                int examples = page.H3In("EXAMPLES").Count(h => h.Text.StartsWith("Example", StringComparison.Ordinal));
                if (examples < 2)
                    failures.Add($"{where}: {examples} '### Example' heading(s) under EXAMPLES; at least two are required.");
                if (page.Section("SYNOPSIS").All(string.IsNullOrWhiteSpace))
                    failures.Add($"{where}: the SYNOPSIS is empty.");
                if (!page.H3In("PARAMETERS").Any(h => h.Text == "CommonParameters"))
                    failures.Add($"{where}: PARAMETERS has no '### CommonParameters' entry.");
            }
            AssertNone(failures);
        }

        [Fact]
        public void SyntaxHasOneBlockPerParameterSetWithExactlyThatSetsParameters()
        {
            var failures = new List<string>();
            foreach (CmdletMeta cmdlet in _metadata.Cmdlets)
            {
                HelpPage? page = HelpPage.Load(PagePath(cmdlet.Name));
                if (page == null) { failures.Add($"{cmdlet.Name}: no help page."); continue; }
                string where = $"{cmdlet.Name} (docs/{cmdlet.Name}.md, SYNTAX)";

                // platyPS v2: '### __AllParameterSets' for a cmdlet with one set, else '### <Set>' with ' (Default)' on the default set.
                bool single = cmdlet.Sets.Count == 1;
                var documented = new Dictionary<string, HelpPage.Heading>(StringComparer.Ordinal);
                foreach (HelpPage.Heading heading in page.H3In("SYNTAX"))
                {
                    bool isDefault = heading.Text.EndsWith(" (Default)", StringComparison.Ordinal);
                    string set = isDefault ? heading.Text.Substring(0, heading.Text.Length - " (Default)".Length) : heading.Text;
                    if (documented.ContainsKey(set)) { failures.Add($"{where}: set '{set}' has two syntax blocks."); continue; }
                    documented[set] = heading;
                    if (!single && isDefault != (set == cmdlet.DefaultSet))
                        failures.Add($"{where}: '### {heading.Text}': the default parameter set is '{cmdlet.DefaultSet}', so only '### {cmdlet.DefaultSet} (Default)' carries ' (Default)'.");
                    if (single && isDefault)
                        failures.Add($"{where}: a cmdlet with one parameter set has '### __AllParameterSets' without ' (Default)'.");
                }

                foreach (SetMeta set in cmdlet.Sets)
                {
                    string expectedHeading = single ? "__AllParameterSets" : set.Name;
                    if (!documented.TryGetValue(expectedHeading, out HelpPage.Heading? heading))
                    {
                        failures.Add($"{where}: parameter set '{set.Name}' has no '### {expectedHeading}{(!single && set.Name == cmdlet.DefaultSet ? " (Default)" : "")}' block.");
                        continue;
                    }
                    documented.Remove(expectedHeading);
                    string? block = page.CodeBlockAfter(heading);
                    if (block == null) { failures.Add($"{where}: '### {heading.Text}' has no code block."); continue; }
                    if (!block.TrimStart().StartsWith(cmdlet.Name + " ", StringComparison.Ordinal))
                        failures.Add($"{where}: the '{heading.Text}' block does not start with '{cmdlet.Name}'.");
                    var inBlock = new HashSet<string>(Regex.Matches(block, @"(?<![\w-])-(\w+)").Select(m => m.Groups[1].Value), StringComparer.OrdinalIgnoreCase);
                    foreach (string parameter in set.Parameters.Where(p => !inBlock.Contains(p)))
                        failures.Add($"{where}: -{parameter} is in parameter set '{set.Name}' but missing from its syntax block.");
                    foreach (string parameter in inBlock.Where(p => !set.Parameters.Contains(p, StringComparer.OrdinalIgnoreCase)))
                        failures.Add($"{where}: the '{heading.Text}' syntax block shows -{parameter}, which is not in parameter set '{set.Name}'.");
                }
                foreach (string stale in documented.Keys)
                    failures.Add($"{where}: '### {stale}' is not a parameter set of the cmdlet (sets: {string.Join(", ", cmdlet.Sets.Select(s => s.Name))}).");
            }
            AssertNone(failures);
        }

        [Fact]
        public void EveryParameterIsDocumentedWithTheEnginesMetadataAndNothingStaleIsDocumented()
        {
            var failures = new List<string>();
            foreach (CmdletMeta cmdlet in _metadata.Cmdlets)
            {
                HelpPage? page = HelpPage.Load(PagePath(cmdlet.Name));
                if (page == null) { failures.Add($"{cmdlet.Name}: no help page."); continue; }

                var headings = page.H3In("PARAMETERS").Where(h => h.Text != "CommonParameters").ToList();
                var documented = new Dictionary<string, HelpPage.Heading>(StringComparer.OrdinalIgnoreCase);
                foreach (HelpPage.Heading heading in headings)
                {
                    if (!heading.Text.StartsWith("-", StringComparison.Ordinal))
                    {
                        failures.Add($"{cmdlet.Name}: '### {heading.Text}' under PARAMETERS is not a '### -Name' heading.");
                        continue;
                    }
                    string name = heading.Text.Substring(1);
                    if (documented.ContainsKey(name)) failures.Add($"{cmdlet.Name} -{name}: documented twice.");
                    documented[name] = heading;
                }

                // platyPS v2 lists the parameters alphabetically (-WhatIf and -Confirm included).
                string[] order = documented.Keys.ToArray();
                string[] sorted = order.OrderBy(n => n, StringComparer.OrdinalIgnoreCase).ToArray();
                if (!order.SequenceEqual(sorted))
                    failures.Add($"{cmdlet.Name}: parameters are not in alphabetical order: {string.Join(", ", order)}.");

                foreach (ParameterMeta parameter in cmdlet.Parameters)
                {
                    string where = $"{cmdlet.Name} -{parameter.Name}";
                    if (!documented.TryGetValue(parameter.Name, out HelpPage.Heading? heading))
                    {
                        failures.Add($"{where}: not documented in docs/{cmdlet.Name}.md (add a '### -{parameter.Name}' entry under PARAMETERS).");
                        continue;
                    }
                    documented.Remove(parameter.Name);
                    if (heading.Text.Substring(1) != parameter.Name)
                        failures.Add($"{where}: the heading is '### {heading.Text}'; use the parameter's exact casing.");

                    (string Text, int Line)? block = page.CodeBlockWithLineAfter(heading, "yaml");
                    if (block == null) { failures.Add($"{where}: no ```yaml block under its heading."); continue; }
                    if (!ParameterYaml.TryParse(block.Value.Text, out ParameterYaml? yaml, out string? error, block.Value.Line))
                    {
                        failures.Add($"{where}: its yaml block does not parse ({error}).");
                        continue;
                    }
                    CompareParameter(where, parameter, yaml!, failures);
                }
                foreach (string stale in documented.Keys)
                    failures.Add($"{cmdlet.Name} -{stale}: documented in docs/{cmdlet.Name}.md but the cmdlet has no such parameter (stale).");
            }
            AssertNone(failures);
        }

        [Fact]
        public void AboutHelpTextHasTheAboutLayoutShortLinesAndCoversEveryCodeAndErrorId()
        {
            Assert.True(File.Exists(AboutHelpText), "docs/about_Qfex.help.txt is missing.");
            string[] lines = File.ReadAllLines(AboutHelpText);
            string text = string.Join("\n", lines);
            var failures = new List<string>();

            if (lines.Length < 5 || lines[0] != "TOPIC" || lines[1].Trim() != "about_Qfex" || !lines[1].StartsWith("    ", StringComparison.Ordinal))
                failures.Add("about_Qfex.help.txt must start with 'TOPIC' and, indented four spaces, 'about_Qfex'.");
            int shortAt = Array.IndexOf(lines, "SHORT DESCRIPTION");
            int longAt = Array.IndexOf(lines, "LONG DESCRIPTION");
            if (shortAt < 2 || longAt < shortAt)
                failures.Add("about_Qfex.help.txt must have a 'SHORT DESCRIPTION' and then a 'LONG DESCRIPTION' heading.");
            if (Array.IndexOf(lines, "SEE ALSO") < longAt)
                failures.Add("about_Qfex.help.txt must end its topics with a 'SEE ALSO' heading.");
            for (int i = 0; i < lines.Length; i++)
            {
                if (lines[i].Length >= 80) failures.Add($"about_Qfex.help.txt line {i + 1} has {lines[i].Length} characters (keep it under 80).");
                if (lines[i].IndexOf('\t') >= 0) failures.Add($"about_Qfex.help.txt line {i + 1} has a tab.");
            }

            foreach (ErrorCodeInfo row in ErrorCodeTable.Rows)
                if (!MentionsWord(text, row.Code))
                    failures.Add($"about_Qfex.help.txt does not mention the {(row.Source == CodeSource.ErrorFrame ? "error code" : row.Source == CodeSource.OrderStatus ? "order rejection status" : "module ErrorId")} {row.Code}.");
            foreach (string id in ModuleErrorIds.Written)
                if (!MentionsWord(text, id))
                    failures.Add($"about_Qfex.help.txt does not mention the module ErrorId {id}.");
            foreach (string id in ModuleErrorIds.Unused)
                if (MentionsWord(text, id))
                    failures.Add($"about_Qfex.help.txt mentions {id}, which no code path writes.");
            AssertNone(failures);
        }

        [Fact]
        public void AboutMarkdownAndReadmeCoverEveryExchangeCodeAndModuleErrorId()
        {
            var failures = new List<string>();
            foreach (string file in new[] { Path.Combine(DocsDir, "about_Qfex.md"), Path.Combine(PowerShellHost.RepoRoot, "README.md") })
            {
                string name = Path.GetFileName(file);
                Assert.True(File.Exists(file), name + " is missing.");
                string text = File.ReadAllText(file);
                foreach (ErrorCodeInfo row in ErrorCodeTable.Rows.Where(r => r.Source == CodeSource.ErrorFrame))
                    if (!MentionsWord(text, row.Code)) failures.Add($"{name} does not mention the error code {row.Code}.");
                foreach (string id in ModuleErrorIds.Written)
                    if (!MentionsWord(text, id)) failures.Add($"{name} does not mention the module ErrorId {id}.");
                foreach (string id in ModuleErrorIds.Unused)
                    if (MentionsWord(text, id)) failures.Add($"{name} mentions {id}, which no code path writes.");
            }
            AssertNone(failures);
        }

        [Fact]
        public void EveryModuleErrorIdTheCodeWritesHasOneRowInTheCodeTableAndNoRowIsStale()
        {
            // The table drives advice, completion, New-QfexErrorRecord and these docs tests: an id the code writes without
            // a row would be advised as unknown; a row no code writes would be documented for nothing.
            var failures = new List<string>();
            string[] rows = ErrorCodeTable.Rows.Where(r => r.Source == CodeSource.Module).Select(r => r.Code).ToArray();
            foreach (string id in ModuleErrorIds.Written.Where(id => !rows.Contains(id)))
                failures.Add($"The code writes {id}, which has no row in ErrorCodeTable.Rows (add one: category, exception, advice).");
            foreach (string id in rows.Where(id => !ModuleErrorIds.Written.Contains(id)))
                failures.Add($"ErrorCodeTable.Rows has a row for {id}, which no code path writes.");
            foreach (string id in rows.Where(id => rows.Count(r => r == id) > 1).Distinct())
                failures.Add($"ErrorCodeTable.Rows has {id} twice.");
            AssertNone(failures);
        }

        [Fact]
        public void TheBuildCopiesAboutHelpTextBesideTheModule()
        {
            string copied = Path.Combine(Path.GetDirectoryName(PowerShellHost.ModuleManifest)!, "en-US", "about_Qfex.help.txt");
            Assert.True(File.Exists(copied), "out/Qfex/en-US/about_Qfex.help.txt is missing: the build must copy docs/about_Qfex.help.txt there.");
            Assert.True(File.ReadAllBytes(AboutHelpText).SequenceEqual(File.ReadAllBytes(copied)),
                "out/Qfex/en-US/about_Qfex.help.txt differs from docs/about_Qfex.help.txt: rebuild (dotnet build -c Release).");
        }

        [Fact]
        public void HelpSaysNothingIsPlannedThatShipped()
        {
            var failures = new List<string>();
            var files = Directory.GetFiles(DocsDir, "*-*.md").Concat(new[] { Path.Combine(DocsDir, "about_Qfex.md"), AboutHelpText });
            var stale = new Regex(@"\bplanned\b|\bnot (yet )?available\b|\bnot yet\b|\bcoming soon\b", RegexOptions.IgnoreCase);
            foreach (string file in files)
            {
                string[] lines = File.ReadAllLines(file);
                for (int i = 0; i < lines.Length; i++)
                    if (stale.IsMatch(lines[i]))
                        failures.Add($"{Path.GetFileName(file)} line {i + 1}: '{lines[i].Trim()}' announces something as planned; describe what ships.");
            }
            AssertNone(failures);
        }

        [Fact]
        public void EveryPagesYamlParsesFrontMatterAndParameterBlocks()
        {
            // platyPS reads these with a YAML parser and drops a parameter whose block does not parse
            // (an unquoted '*' is alias syntax): parse them the same way.
            var failures = new List<string>();
            foreach (string file in Directory.GetFiles(DocsDir, "*-*.md").OrderBy(f => f, StringComparer.Ordinal))
            {
                string name = Path.GetFileName(file);
                HelpPage page = HelpPage.Load(file)!;
                if (page.FrontMatterText == null)
                    failures.Add($"{name}: no front matter (a '---' line, YAML, a '---' line) at the top.");
                else if (!Yaml.TryLoadMapping(page.FrontMatterText, 2, out _, out string? error))
                    failures.Add($"{name}: the front matter does not parse as YAML ({error}).");

                foreach (HelpPage.Heading heading in page.H3In("PARAMETERS").Where(h => h.Text != "CommonParameters"))
                {
                    (string Text, int Line)? block = page.CodeBlockWithLineAfter(heading, "yaml");
                    if (block == null) { failures.Add($"{name} line {heading.Line + 1}: '### {heading.Text}' has no ```yaml block."); continue; }
                    if (!ParameterYaml.TryParse(block.Value.Text, out _, out string? error, block.Value.Line))
                        failures.Add($"{name} '### {heading.Text}': its yaml block does not parse ({error}).");
                }
            }
            AssertNone(failures);
        }

        [Fact]
        public void EveryDocumentedDefaultIsTheCmdletsRealDefault()
        {
            var failures = new List<string>();
            foreach (CmdletMeta cmdlet in _metadata.Cmdlets)
            {
                HelpPage? page = HelpPage.Load(PagePath(cmdlet.Name));
                if (page == null) { failures.Add($"{cmdlet.Name}: no help page."); continue; }
                // A fresh cmdlet object holds the value each parameter has when it is not given.
                object instance = Activator.CreateInstance(cmdlet.ImplementingType)!;
                foreach (ParameterMeta parameter in cmdlet.Parameters)
                {
                    string where = $"{cmdlet.Name} -{parameter.Name} (docs/{cmdlet.Name}.md)";
                    HelpPage.Heading? heading = page.H3In("PARAMETERS").FirstOrDefault(h => h.Text == "-" + parameter.Name);
                    string? text = heading == null ? null : page.CodeBlockAfter(heading, "yaml");
                    if (text == null || !ParameterYaml.TryParse(text, out ParameterYaml? yaml, out _)) continue; // reported by the tests above
                    PropertyInfo? property = cmdlet.ImplementingType.GetProperty(parameter.Name, BindingFlags.Public | BindingFlags.Instance);
                    // WhatIf and Confirm are the engine's switches, not properties of the class.
                    Type type = property?.PropertyType ?? (SameTypeName("SwitchParameter", parameter.TypeName) ? typeof(SwitchParameter) : typeof(object));
                    string? problem = DefaultProblem(type, property?.GetValue(instance), yaml!.Scalar("DefaultValue"));
                    if (problem != null) failures.Add($"{where}: {problem}.");
                }
            }
            AssertNone(failures);
        }

        [Fact]
        public void NoPageClaimsAnOnlineLink()
        {
            // The help ships with the module and is not published at any address, so no page names an
            // online version: HelpUri is '' and every related link is '- [Name]()'. Get-Help -Online then
            // says the help has no URI, instead of failing on a relative one such as 'Connect-Qfex.md'.
            // platyPS silently drops a related-links line that is not a '- [text](uri)' item.
            var failures = new List<string>();
            foreach (string file in Directory.GetFiles(DocsDir, "*-*.md").OrderBy(f => f, StringComparer.Ordinal))
            {
                string name = Path.GetFileName(file);
                HelpPage page = HelpPage.Load(file)!;
                if (!page.FrontMatter.TryGetValue("HelpUri", out string? helpUri))
                    failures.Add($"{name}: the front matter has no HelpUri (write HelpUri: '').");
                else if (helpUri.Length > 0)
                    failures.Add($"{name}: HelpUri is '{helpUri}'{(IsAbsoluteWebUri(helpUri) ? "" : ", not even an absolute http(s) address")}; no page claims an online version, so write HelpUri: ''.");

                int links = 0;
                foreach (string line in page.Section("RELATED LINKS").Where(l => l.Trim().Length > 0))
                {
                    Match m = Regex.Match(line, @"^- \[([^\]]+)\]\(([^)]*)\)\s*$");
                    if (!m.Success) { failures.Add($"{name} RELATED LINKS: '{line.Trim()}' is not a '- [Name]()' item (platyPS drops it)."); continue; }
                    links++;
                    string uri = m.Groups[2].Value.Trim();
                    if (uri.Length > 0)
                        failures.Add($"{name} RELATED LINKS: [{m.Groups[1].Value}]({uri}) claims an online address{(IsAbsoluteWebUri(uri) ? "" : " that is not even an absolute http(s) URI, so Get-Help -Online fails on it")}; write [{m.Groups[1].Value}]().");
                    else if (m.Groups[1].Value != "about_Qfex" && !_metadata.Cmdlets.Any(c => c.Name == m.Groups[1].Value))
                        failures.Add($"{name} RELATED LINKS: '{m.Groups[1].Value}' is neither a Qfex cmdlet nor about_Qfex.");
                }
                if (links == 0) failures.Add($"{name}: RELATED LINKS is empty.");
            }
            AssertNone(failures);
        }

        // ------------------------------------------------------------------ comparing one parameter

        private static void CompareParameter(string where, ParameterMeta parameter, ParameterYaml yaml, List<string> failures)
        {
            string? docType = yaml.Scalar("Type");
            if (docType == null || !SameTypeName(docType, parameter.TypeName))
                failures.Add($"{where}: Type is '{docType ?? "missing"}' but the parameter is [{parameter.TypeName}].");

            CompareSet(where, "Aliases", parameter.Aliases, yaml.List("Aliases"), StringComparer.OrdinalIgnoreCase, failures);
            // AcceptedValues only for closed sets (ValidateSet or an enum); ranges belong in the description.
            CompareSet(where, "AcceptedValues", parameter.AcceptedValues, yaml.List("AcceptedValues"), StringComparer.OrdinalIgnoreCase, failures);

            var docSets = yaml.ParameterSets.ToDictionary(s => s.TryGetValue("Name", out string? n) ? MapSetName(n) : "", StringComparer.Ordinal);
            foreach (KeyValuePair<string, SetEntryMeta> actual in parameter.Sets)
            {
                string setWhere = $"{where} (parameter set '{actual.Key}')";
                if (!docSets.TryGetValue(actual.Key, out Dictionary<string, string>? doc))
                {
                    failures.Add($"{setWhere}: ParameterSets has no '- Name: {(actual.Key == "__AllParameterSets" ? "(All)" : actual.Key)}' entry (documented: {string.Join(", ", docSets.Keys)}).");
                    continue;
                }
                docSets.Remove(actual.Key);
                SetEntryMeta m = actual.Value;
                string expectedPosition = m.Position == int.MinValue ? "Named" : m.Position.ToString(CultureInfo.InvariantCulture);
                CompareScalar(setWhere, "Position", expectedPosition, doc, failures);
                CompareScalar(setWhere, "IsRequired", Bool(m.IsMandatory), doc, failures);
                CompareScalar(setWhere, "ValueFromPipeline", Bool(m.ValueFromPipeline), doc, failures);
                CompareScalar(setWhere, "ValueFromPipelineByPropertyName", Bool(m.ValueFromPipelineByPropertyName), doc, failures);
                CompareScalar(setWhere, "ValueFromRemainingArguments", Bool(m.ValueFromRemainingArguments), doc, failures);
            }
            foreach (string stale in docSets.Keys)
                failures.Add($"{where}: ParameterSets lists '{stale}', which is not a parameter set of this parameter (sets: {string.Join(", ", parameter.Sets.Keys)}).");
            // DefaultValue: EveryDocumentedDefaultIsTheCmdletsRealDefault.
        }

        private static void CompareScalar(string where, string key, string expected, Dictionary<string, string> doc, List<string> failures)
        {
            if (!doc.TryGetValue(key, out string? value))
                failures.Add($"{where}: {key} is missing (expected {expected}).");
            else if (!string.Equals(value, expected, StringComparison.OrdinalIgnoreCase))
                failures.Add($"{where}: {key} is {value} but the engine says {expected}.");
        }

        private static void CompareSet(string where, string key, IReadOnlyCollection<string> expected, IReadOnlyCollection<string>? documented, StringComparer comparer, List<string> failures)
        {
            if (documented == null) { failures.Add($"{where}: {key} is missing (expected [{string.Join(", ", expected)}])."); return; }
            if (!new HashSet<string>(expected, comparer).SetEquals(documented))
                failures.Add($"{where}: {key} is [{string.Join(", ", documented)}] but the engine says [{string.Join(", ", expected)}].");
        }

        private static string Bool(bool value) => value ? "true" : "false";

        private static string MapSetName(string name) => name == "(All)" ? "__AllParameterSets" : name;

        private static readonly Dictionary<string, string> TypeAliases = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
        {
            ["string"] = "String", ["int"] = "Int32", ["long"] = "Int64", ["double"] = "Double", ["bool"] = "Boolean",
            ["object"] = "Object", ["switch"] = "SwitchParameter", ["hashtable"] = "Hashtable",
        };

        /// <summary>Loosely: 'System.String[]', 'String[]' and 'string[]' are the same name.</summary>
        private static bool SameTypeName(string documented, string actual)
        {
            static string Short(string name)
            {
                name = name.Trim();
                string suffix = name.EndsWith("[]", StringComparison.Ordinal) ? "[]" : "";
                string core = suffix.Length > 0 ? name.Substring(0, name.Length - 2) : name;
                core = core.Substring(core.LastIndexOf('.') + 1);
                return (TypeAliases.TryGetValue(core, out string? full) ? full : core) + suffix;
            }
            return string.Equals(Short(documented), Short(actual), StringComparison.OrdinalIgnoreCase);
        }

        /// <summary>
        /// What is wrong with a documented DefaultValue, or null when it is right. The real default is the
        /// value of the parameter's property on a fresh instance of the cmdlet class. A switch documents
        /// False (or True); an enum, a number and a non-empty string or array document exactly their
        /// value (an array as 'a, b'); a number that is 0 may also say None (0 means "not given" there).
        /// A parameter without a value (null, empty, Guid.Empty) says None or, in words, what happens
        /// without it, but never a number or True/False the cmdlet does not have.
        /// </summary>
        private static string? DefaultProblem(Type type, object? real, string? documented)
        {
            if (string.IsNullOrWhiteSpace(documented))
                return "DefaultValue is missing or empty; write None when the parameter has no default";
            string doc = documented!.Trim();
            Type t = Nullable.GetUnderlyingType(type) ?? type;
            if (t == typeof(SwitchParameter) || t == typeof(bool))
            {
                string expected = (real is SwitchParameter sw ? sw.IsPresent : real is bool b && b) ? "True" : "False";
                return string.Equals(doc, expected, StringComparison.OrdinalIgnoreCase) ? null : $"DefaultValue is '{doc}' but the switch is {expected} when not given";
            }
            if (t.IsEnum && real != null)
                return doc == Convert.ToString(real, CultureInfo.InvariantCulture) ? null : $"DefaultValue is '{doc}' but the cmdlet's default is '{real}'";
            if (t.IsPrimitive || t == typeof(decimal))
            {
                double value = Convert.ToDouble(real ?? 0, CultureInfo.InvariantCulture);
                string shown = Convert.ToString(real ?? 0, CultureInfo.InvariantCulture) ?? "0";
                if (double.TryParse(doc, NumberStyles.Float, CultureInfo.InvariantCulture, out double d))
                    return d == value ? null : $"DefaultValue is '{doc}' but the cmdlet's default is {shown}";
                return value == 0 && doc == "None" ? null : $"DefaultValue is '{doc}' but the cmdlet's default is {shown}";
            }
            string? actual = real switch
            {
                null => null,
                string str => str.Length == 0 ? null : str,
                Array array => array.Length == 0 ? null : string.Join(", ", array.Cast<object?>().Select(v => Convert.ToString(v, CultureInfo.InvariantCulture))),
                _ when t.IsValueType && real.Equals(Activator.CreateInstance(t)) => null,
                _ => Convert.ToString(real, CultureInfo.InvariantCulture),
            };
            if (actual != null)
                return doc == actual ? null : $"DefaultValue is '{doc}' but the cmdlet's default is '{actual}'";
            if (double.TryParse(doc, NumberStyles.Float, CultureInfo.InvariantCulture, out _) || doc.Equals("True", StringComparison.OrdinalIgnoreCase) || doc.Equals("False", StringComparison.OrdinalIgnoreCase))
                return $"DefaultValue is '{doc}' but the parameter has no default value (write None, or say in words what happens without it)";
            return null;
        }

        /// <summary>An online address Get-Help -Online could open: absolute http or https.</summary>
        private static bool IsAbsoluteWebUri(string uri) =>
            Uri.TryCreate(uri, UriKind.Absolute, out Uri? parsed) && (parsed.Scheme == Uri.UriSchemeHttp || parsed.Scheme == Uri.UriSchemeHttps);

        private static bool MentionsWord(string text, string word) =>
            Regex.IsMatch(text, @"(?<![A-Za-z0-9_])" + Regex.Escape(word) + @"(?![A-Za-z0-9_])");

        private static string PagePath(string cmdlet) => Path.Combine(DocsDir, cmdlet + ".md");

        private static void AssertNone(List<string> failures) =>
            Assert.True(failures.Count == 0, failures.Count + " problem(s) in the help:\n" + string.Join("\n", failures));

        // ------------------------------------------------------------------ the module's ErrorIds, from its code

        /// <summary>
        /// The module-side ErrorIds the code can write: the ErrorIds constants the code refers to, and the
        /// literal ids given to QfexException constructors. Constants nothing refers to are Unused.
        /// </summary>
        /// <summary>
        /// The module ErrorIds the code writes, found in the source: every use of an ErrorIds constant and every
        /// literal id given to an exception, outside the files that only describe ids (the code table, the advice,
        /// New-QfexErrorRecord).
        /// </summary>
        private static class ModuleErrorIds
        {
            internal static readonly string[] Written;
            internal static readonly string[] Unused;

            private static readonly string[] Describers = { "ErrorCodeTable.cs", "QfexErrorAdvice.cs", "NewQfexErrorRecordCommand.cs" };

            static ModuleErrorIds()
            {
                string source = string.Join("\n", Directory.GetFiles(Path.Combine(PowerShellHost.RepoRoot, "src"), "*.cs", SearchOption.AllDirectories)
                    .Where(f => !f.Contains(Path.DirectorySeparatorChar + "obj" + Path.DirectorySeparatorChar) && !f.Contains(Path.DirectorySeparatorChar + "bin" + Path.DirectorySeparatorChar))
                    .Where(f => !Describers.Contains(Path.GetFileName(f)))
                    .Select(File.ReadAllText));
                var constants = typeof(ErrorIds).GetFields(BindingFlags.Static | BindingFlags.NonPublic | BindingFlags.Public)
                    .Where(f => f.IsLiteral && f.FieldType == typeof(string))
                    .Select(f => (Name: f.Name, Id: (string)f.GetRawConstantValue()!))
                    .ToList();
                var used = constants.Where(c => Regex.IsMatch(source, @"\bErrorIds\." + c.Name + @"\b")).Select(c => c.Id);
                var literals = Regex.Matches(source, @"new\s+Qfex\w*Exception\(\s*""(Qfex\w+)""").Select(m => m.Groups[1].Value);
                Written = used.Concat(literals).Distinct(StringComparer.Ordinal).OrderBy(s => s, StringComparer.Ordinal).ToArray();
                Unused = constants.Select(c => c.Id).Where(id => !Written.Contains(id)).ToArray();
            }
        }

        // ------------------------------------------------------------------ the engine's metadata

        public sealed class CmdletMeta
        {
            internal CmdletMeta(string name, string defaultSet, Type implementingType, List<SetMeta> sets, List<ParameterMeta> parameters)
            {
                Name = name;
                DefaultSet = defaultSet;
                ImplementingType = implementingType;
                Sets = sets;
                Parameters = parameters;
            }

            internal string Name { get; }
            internal string DefaultSet { get; }
            internal Type ImplementingType { get; }
            internal List<SetMeta> Sets { get; }
            internal List<ParameterMeta> Parameters { get; }
        }

        public sealed class SetMeta
        {
            internal SetMeta(string name, string[] parameters)
            {
                Name = name;
                Parameters = parameters;
            }

            internal string Name { get; }
            /// <summary>The set's parameters without the common ones (WhatIf and Confirm included, as platyPS shows them).</summary>
            internal string[] Parameters { get; }
        }

        public sealed class ParameterMeta
        {
            internal ParameterMeta(string name, string typeName, string[] aliases, string[] acceptedValues, Dictionary<string, SetEntryMeta> sets)
            {
                Name = name;
                TypeName = typeName;
                Aliases = aliases;
                AcceptedValues = acceptedValues;
                Sets = sets;
            }

            internal string Name { get; }
            internal string TypeName { get; }
            internal string[] Aliases { get; }
            internal string[] AcceptedValues { get; }
            internal Dictionary<string, SetEntryMeta> Sets { get; }
        }

        public sealed class SetEntryMeta
        {
            internal int Position { get; set; }
            internal bool IsMandatory { get; set; }
            internal bool ValueFromPipeline { get; set; }
            internal bool ValueFromPipelineByPropertyName { get; set; }
            internal bool ValueFromRemainingArguments { get; set; }
        }

        /// <summary>Get-Command metadata of every exported cmdlet, read once through the real engine.</summary>
        public sealed class Metadata : IDisposable
        {
            private const string Script = @"
$common = [System.Management.Automation.Cmdlet]::CommonParameters
foreach ($c in (Get-Module Qfex).ExportedCmdlets.Values) {
    $params = foreach ($p in $c.Parameters.Values) {
        if ($common -contains $p.Name) { continue }
        # A nullable parameter (no default: Connect-Qfex -Environment) is documented as its underlying type.
        $type = $p.ParameterType
        $underlying = [System.Nullable]::GetUnderlyingType($type)
        if ($underlying) { $type = $underlying }
        $validateSet = @($p.Attributes | Where-Object { $_ -is [System.Management.Automation.ValidateSetAttribute] })
        $accepted = if ($validateSet.Count -gt 0) { [string[]]$validateSet[0].ValidValues }
                    elseif ($type.IsEnum) { [string[]][System.Enum]::GetNames($type) }
                    else { [string[]]@() }
        $sets = foreach ($k in $p.ParameterSets.Keys) {
            $m = $p.ParameterSets[$k]
            '{0}|{1}|{2}|{3}|{4}|{5}' -f $k, $m.Position, $m.IsMandatory, $m.ValueFromPipeline, $m.ValueFromPipelineByPropertyName, $m.ValueFromRemainingArguments
        }
        [pscustomobject]@{ Name = $p.Name; Type = $type.FullName; Aliases = [string[]]@($p.Aliases); Accepted = $accepted; Sets = [string[]]@($sets) }
    }
    $setInfo = foreach ($s in $c.ParameterSets) {
        $s.Name + '|' + (@($s.Parameters | Where-Object { $common -notcontains $_.Name } | ForEach-Object Name) -join ',')
    }
    [pscustomobject]@{ Name = $c.Name; DefaultSet = [string]$c.DefaultParameterSet; ImplementingType = $c.ImplementingType; Sets = [string[]]@($setInfo); Parameters = @($params) }
}";

            private readonly PowerShellHost _host = new PowerShellHost();

            public Metadata()
            {
                ScriptResult result = _host.Run(Script).ThrowOnError();
                Cmdlets = result.Output.Select(Read).OrderBy(c => c.Name, StringComparer.Ordinal).ToList();
                Assert.NotEmpty(Cmdlets);
            }

            internal List<CmdletMeta> Cmdlets { get; }

            private static CmdletMeta Read(PSObject o)
            {
                var sets = Strings(o, "Sets").Select(s =>
                {
                    string[] parts = s.Split(new[] { '|' }, 2);
                    return new SetMeta(parts[0], parts[1].Length == 0 ? new string[0] : parts[1].Split(','));
                }).ToList();
                var parameters = ((IEnumerable<object?>)Unwrap(o.Properties["Parameters"].Value)!).OfType<PSObject>().Select(p =>
                {
                    var entries = new Dictionary<string, SetEntryMeta>(StringComparer.Ordinal);
                    foreach (string s in Strings(p, "Sets"))
                    {
                        string[] f = s.Split('|');
                        entries[f[0]] = new SetEntryMeta
                        {
                            Position = int.Parse(f[1], CultureInfo.InvariantCulture),
                            IsMandatory = bool.Parse(f[2]),
                            ValueFromPipeline = bool.Parse(f[3]),
                            ValueFromPipelineByPropertyName = bool.Parse(f[4]),
                            ValueFromRemainingArguments = bool.Parse(f[5]),
                        };
                    }
                    return new ParameterMeta((string)Unwrap(p.Properties["Name"].Value)!, (string)Unwrap(p.Properties["Type"].Value)!,
                        Strings(p, "Aliases").Where(a => a.Length > 0).ToArray(), Strings(p, "Accepted").Where(a => a.Length > 0).ToArray(), entries);
                }).ToList();
                return new CmdletMeta((string)Unwrap(o.Properties["Name"].Value)!, (string)Unwrap(o.Properties["DefaultSet"].Value)!,
                    (Type)Unwrap(o.Properties["ImplementingType"].Value)!, sets, parameters);
            }

            private static object? Unwrap(object? value) => value is PSObject p ? p.BaseObject : value;

            private static string[] Strings(PSObject o, string name) =>
                Unwrap(o.Properties[name]?.Value) switch
                {
                    null => new string[0],
                    string s => new[] { s },
                    System.Collections.IEnumerable e => e.Cast<object?>().Select(v => Convert.ToString(Unwrap(v), CultureInfo.InvariantCulture) ?? "").ToArray(),
                    object v => new[] { Convert.ToString(v, CultureInfo.InvariantCulture) ?? "" },
                };

            public void Dispose() => _host.Dispose();
        }

        // ------------------------------------------------------------------ reading a platyPS v2 page

        /// <summary>Just enough of a platyPS v2 markdown page: front matter, headings outside code fences, code blocks.</summary>
        private sealed class HelpPage
        {
            internal sealed class Heading
            {
                internal Heading(int level, string text, int line)
                {
                    Level = level;
                    Text = text;
                    Line = line;
                }

                internal int Level { get; }
                internal string Text { get; }
                internal int Line { get; }
            }

            private readonly string[] _lines;
            private readonly List<Heading> _headings = new List<Heading>();

            private HelpPage(string[] lines)
            {
                _lines = lines;
                int body = 0;
                if (lines.Length > 0 && lines[0].Trim() == "---")
                {
                    int end = Array.FindIndex(lines, 1, l => l.Trim() == "---");
                    if (end > 0)
                    {
                        // Parsed as YAML, as platyPS does ('' is an empty value); unparsable front matter reads as none.
                        FrontMatterText = string.Join("\n", lines.Skip(1).Take(end - 1));
                        if (Yaml.TryLoadMapping(FrontMatterText, 2, out YamlMappingNode? root, out _))
                            foreach (var entry in root!.Children)
                                if (entry.Key is YamlScalarNode key && entry.Value is YamlScalarNode value)
                                    FrontMatter[key.Value ?? ""] = value.Value ?? "";
                        body = end + 1;
                    }
                }
                bool fence = false;
                for (int i = body; i < lines.Length; i++)
                {
                    if (lines[i].StartsWith("```", StringComparison.Ordinal)) { fence = !fence; continue; }
                    if (fence) continue;
                    Match m = Regex.Match(lines[i], @"^(#{1,6})\s+(.*?)\s*$");
                    if (m.Success) _headings.Add(new Heading(m.Groups[1].Length, m.Groups[2].Value, i));
                }
            }

            internal Dictionary<string, string> FrontMatter { get; } = new Dictionary<string, string>(StringComparer.Ordinal);

            /// <summary>The text between the '---' lines (file line 2 on), or null without front matter.</summary>
            internal string? FrontMatterText { get; }

            internal string? Title => _headings.FirstOrDefault(h => h.Level == 1)?.Text;

            internal IEnumerable<Heading> H2 => _headings.Where(h => h.Level == 2);

            internal static HelpPage? Load(string path) => File.Exists(path) ? new HelpPage(File.ReadAllLines(path)) : null;

            /// <summary>The level-3 headings inside a section.</summary>
            internal IEnumerable<Heading> H3In(string section)
            {
                (int start, int end) = Range(section);
                return _headings.Where(h => h.Level == 3 && h.Line > start && h.Line < end);
            }

            internal IEnumerable<string> Section(string section)
            {
                (int start, int end) = Range(section);
                return start < 0 ? Enumerable.Empty<string>() : _lines.Skip(start + 1).Take(end - start - 1);
            }

            /// <summary>The first code block (of a language, when given) after a heading and before the next heading.</summary>
            internal string? CodeBlockAfter(Heading heading, string? language = null) => CodeBlockWithLineAfter(heading, language)?.Text;

            /// <summary>As CodeBlockAfter, with the file line number (1-based) of the block's first line.</summary>
            internal (string Text, int Line)? CodeBlockWithLineAfter(Heading heading, string? language = null)
            {
                int next = _headings.FirstOrDefault(h => h.Line > heading.Line)?.Line ?? _lines.Length;
                for (int i = heading.Line + 1; i < next; i++)
                {
                    if (!_lines[i].StartsWith("```", StringComparison.Ordinal)) continue;
                    string lang = _lines[i].Substring(3).Trim();
                    int close = Array.FindIndex(_lines, i + 1, l => l.StartsWith("```", StringComparison.Ordinal));
                    if (close < 0) return null;
                    if (language == null || string.Equals(lang, language, StringComparison.OrdinalIgnoreCase))
                        return (string.Join("\n", _lines.Skip(i + 1).Take(close - i - 1)), i + 2);
                    i = close;
                }
                return null;
            }

            private (int Start, int End) Range(string section)
            {
                Heading? h2 = _headings.FirstOrDefault(h => h.Level == 2 && h.Text == section);
                if (h2 == null) return (-1, -1);
                int end = _headings.FirstOrDefault(h => h.Level <= 2 && h.Line > h2.Line)?.Line ?? _lines.Length;
                return (h2.Line, end);
            }
        }

        /// <summary>YAML read with YamlDotNet, the parser platyPS itself uses.</summary>
        private static class Yaml
        {
            /// <summary>Parses one YAML document that must be a mapping; the error names the file line (firstLine = the text's first line).</summary>
            internal static bool TryLoadMapping(string text, int firstLine, out YamlMappingNode? root, out string? error)
            {
                root = null;
                error = null;
                var stream = new YamlStream();
                try
                {
                    stream.Load(new StringReader(text));
                }
                catch (YamlException e)
                {
                    string message = (e.InnerException as YamlException)?.Message ?? e.Message;
                    Mark start = (e.InnerException as YamlException)?.Start ?? e.Start;
                    error = $"line {firstLine + start.Line - 1}, column {start.Column}: {message}";
                    return false;
                }
                if (stream.Documents.Count != 1 || !(stream.Documents[0].RootNode is YamlMappingNode mapping))
                {
                    error = $"line {firstLine}: not one YAML mapping of keys to values";
                    return false;
                }
                root = mapping;
                return true;
            }
        }

        /// <summary>A platyPS v2 parameter yaml block, parsed: its scalars, its lists and its ParameterSets entries.</summary>
        private sealed class ParameterYaml
        {
            private readonly Dictionary<string, string> _scalars = new Dictionary<string, string>(StringComparer.Ordinal);
            private readonly Dictionary<string, List<string>> _lists = new Dictionary<string, List<string>>(StringComparer.Ordinal);

            internal List<Dictionary<string, string>> ParameterSets { get; } = new List<Dictionary<string, string>>();

            internal string? Scalar(string key) => _scalars.TryGetValue(key, out string? v) ? v : null;

            internal IReadOnlyCollection<string>? List(string key) => _lists.TryGetValue(key, out List<string>? v) ? v : null;

            internal static bool TryParse(string text, out ParameterYaml? yaml, out string? error, int firstLine = 1)
            {
                yaml = null;
                if (!Yaml.TryLoadMapping(text, firstLine, out YamlMappingNode? root, out error)) return false;
                var parsed = new ParameterYaml();
                foreach (var entry in root!.Children)
                {
                    if (!(entry.Key is YamlScalarNode keyNode) || keyNode.Value == null)
                    {
                        error = $"line {firstLine + (int)entry.Key.Start.Line - 1}: a key that is not a plain name";
                        return false;
                    }
                    string key = keyNode.Value;
                    switch (entry.Value)
                    {
                        case YamlScalarNode scalar:
                            parsed._scalars[key] = scalar.Value ?? "";
                            // 'Aliases:' with nothing after it is an empty list.
                            if (string.IsNullOrEmpty(scalar.Value) && scalar.Style == YamlDotNet.Core.ScalarStyle.Plain) parsed._lists[key] = new List<string>();
                            break;
                        case YamlSequenceNode sequence when key == "ParameterSets":
                            foreach (YamlNode item in sequence.Children)
                            {
                                if (!(item is YamlMappingNode set))
                                {
                                    error = $"line {firstLine + (int)item.Start.Line - 1}: a ParameterSets entry that is not a mapping";
                                    return false;
                                }
                                parsed.ParameterSets.Add(set.Children
                                    .Where(p => p.Key is YamlScalarNode && p.Value is YamlScalarNode)
                                    .ToDictionary(p => ((YamlScalarNode)p.Key).Value ?? "", p => ((YamlScalarNode)p.Value).Value ?? "", StringComparer.Ordinal));
                            }
                            break;
                        case YamlSequenceNode sequence:
                            parsed._lists[key] = sequence.Children.OfType<YamlScalarNode>().Select(v => v.Value ?? "").ToList();
                            break;
                        default:
                            error = $"line {firstLine + (int)entry.Value.Start.Line - 1}: {key} is a mapping, which platyPS does not expect";
                            return false;
                    }
                }
                yaml = parsed;
                return true;
            }
        }
    }
}
