namespace DockerProxy.Cli;

/// <summary>The raw values given on the command line, by flag name, the last occurrence winning (as Go's flag);
/// repeatable flags keep every occurrence too.</summary>
internal sealed class FlagValues
{
    private readonly Dictionary<string, string> _values = new(StringComparer.Ordinal);

    private Dictionary<string, List<string>>? _lists;

    internal void Set(string name, string value) => _values[name] = value;

    /// <summary>Records one occurrence of a repeatable flag; <see cref="Get"/> still sees the last.</summary>
    internal void Add(string name, string value)
    {
        _values[name] = value;
        _lists ??= new(StringComparer.Ordinal);
        if (!_lists.TryGetValue(name, out List<string>? list))
        {
            list = [];
            _lists[name] = list;
        }

        list.Add(value);
    }

    /// <summary>Every occurrence of a repeatable flag, in order; empty when it was not given.</summary>
    internal IReadOnlyList<string> GetAll(string name) =>
        _lists is not null && _lists.TryGetValue(name, out List<string>? list) ? list : [];

    internal bool IsSet(string name) => _values.ContainsKey(name);

    internal string? Get(string name) => _values.TryGetValue(name, out string? value) ? value : null;
}
