namespace DockerProxy.Tests.Reliability.Faults;

/// <summary>What a proxy process holds open: its fds and what each one is (socket, pipe, epoll...).</summary>
internal sealed record FdSnapshot(IReadOnlyList<string> Targets)
{
    internal int Count => Targets.Count;

    /// <summary>Kinds of fd ("socket", "pipe", "anon_inode:[eventpoll]"...) with their counts, for messages.</summary>
    internal string Summary() => string.Join(", ", Targets
        .Select(Kind)
        .GroupBy(kind => kind, StringComparer.Ordinal)
        .OrderBy(group => group.Key, StringComparer.Ordinal)
        .Select(group => $"{group.Key} x{group.Count()}"));

    private static string Kind(string target)
    {
        int bracket = target.IndexOf(":[", StringComparison.Ordinal);
        return bracket > 0 && !target.StartsWith("anon_inode", StringComparison.Ordinal) ? target[..bracket] : target;
    }
}
