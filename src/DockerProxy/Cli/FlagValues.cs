namespace DockerProxy.Cli;

/// <summary>The raw values given on the command line, by flag name, the last occurrence winning (as Go's flag).</summary>
internal sealed class FlagValues
{
    private readonly Dictionary<string, string> _values = new(StringComparer.Ordinal);

    internal void Set(string name, string value) => _values[name] = value;

    internal bool IsSet(string name) => _values.ContainsKey(name);

    internal string? Get(string name) => _values.TryGetValue(name, out string? value) ? value : null;
}
