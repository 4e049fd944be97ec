using System.Globalization;
using System.Net;
using DockerProxy.Hosting;
using DockerProxy.Relay.Multi;

namespace DockerProxy.Cli;

/// <summary>
/// Where the mappings of a multi-mapping process come from: the -map flags (fixed for the
/// process's life) and the -config file (read at start and again on every SIGHUP). The file holds
/// one mapping per line in the -map syntax; <c>#</c> starts a comment; blank lines are skipped.
/// </summary>
internal sealed class MappingSource
{
    // A config line is a mapping, never more: anything longer is not a file of mappings.
    private const int MaxLineLength = 512;

    // About 80,000 lines of mappings: more than any port range needs.
    private const int MaxFileBytes = 4 * 1024 * 1024;

    private readonly IReadOnlyList<string> _flags;

    internal MappingSource(IReadOnlyList<string> flags, string? configFile)
    {
        _flags = flags;
        ConfigFile = configFile;
    }

    /// <summary>The -config file; null when only -map was given (then SIGHUP keeps its default).</summary>
    internal string? ConfigFile { get; }

    /// <summary>
    /// Every mapping, ranges expanded, in the order written. Throws a <see cref="StartupException"/>
    /// naming every bad entry (flag or file line) and every host address given twice.
    /// </summary>
    internal List<MappingEntry> Load()
    {
        var problems = new List<string>();
        var entries = new List<MappingEntry>();
        foreach (string text in _flags)
        {
            Add(entries, problems, text, $"-map \"{text}\"");
        }

        if (ConfigFile is string path)
        {
            string[] lines = ReadLines(path);

            for (int i = 0; i < lines.Length; i++)
            {
                string line = lines[i];
                int hash = line.IndexOf('#', StringComparison.Ordinal);
                string text = (hash < 0 ? line : line[..hash]).Trim();
                string origin = string.Create(CultureInfo.InvariantCulture, $"{path} line {i + 1}");
                if (text.Length > MaxLineLength)
                {
                    problems.Add($"{origin}: longer than {MaxLineLength} characters");
                }
                else if (text.Length > 0)
                {
                    Add(entries, problems, text, origin);
                }
            }
        }

        if (problems.Count == 0 && entries.Count == 0)
        {
            problems.Add(ConfigFile is null ? "no mapping given" : $"-config {ConfigFile}: no mapping in the file");
        }

        CheckDuplicates(entries, problems);
        if (problems.Count > 0)
        {
            // The first few are enough to fix the file; a thousand would not fit dockerd's error line.
            string shown = string.Join("; ", problems.Take(5));
            throw new StartupException(problems.Count > 5 ? $"{shown}; and {problems.Count - 5} more" : shown);
        }

        return entries;
    }

    // The whole file, bounded: a path such as /dev/zero must not fill memory.
    private static string[] ReadLines(string path)
    {
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, bufferSize: 1);
            using var content = new MemoryStream();
            byte[] chunk = new byte[64 * 1024];
            int read;
            while ((read = stream.Read(chunk, 0, chunk.Length)) > 0)
            {
                content.Write(chunk, 0, read);
                if (content.Length > MaxFileBytes)
                {
                    throw new StartupException($"-config {path}: larger than {MaxFileBytes / (1024 * 1024)} MiB");
                }
            }

            return System.Text.Encoding.UTF8.GetString(content.GetBuffer(), 0, (int)content.Length).Split('\n');
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException or ArgumentException)
        {
            throw new StartupException($"-config {path}: {e.Message}", e);
        }
    }

    private static void Add(List<MappingEntry> entries, List<string> problems, string text, string origin)
    {
        List<Mapping>? mappings = MappingSyntax.Parse(text, out string? problem);
        if (mappings is null)
        {
            problems.Add($"{origin}: invalid mapping \"{text}\": {problem}");
            return;
        }

        foreach (Mapping mapping in mappings)
        {
            entries.Add(new MappingEntry(mapping, origin));
        }
    }

    // One listener per protocol and host address: the second would fail to bind anyway, but
    // named here it says which two lines clash.
    private static void CheckDuplicates(List<MappingEntry> entries, List<string> problems)
    {
        var seen = new Dictionary<(string, IPEndPoint), string>();
        foreach (MappingEntry entry in entries)
        {
            if (!seen.TryAdd((entry.Mapping.Proto, entry.Mapping.Host), entry.Origin))
            {
                problems.Add($"{entry.Origin}: {entry.Mapping.Proto} {entry.Mapping.Host} is already mapped by {seen[(entry.Mapping.Proto, entry.Mapping.Host)]}");
            }
        }
    }
}
