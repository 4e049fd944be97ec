namespace DockerProxy.Relay;

/// <summary>
/// Back-off after a failed accept: 10 ms doubling to 1 s, reset by the next success; and at most
/// one log line a second about it.
/// </summary>
internal sealed class AcceptBackoff
{
    private const int FirstDelayMs = 10;
    private const int MaxDelayMs = 1000;

    private readonly RateLimitedReport _report;
    private int _delayMs;

    internal AcceptBackoff(TimeProvider time) => _report = new RateLimitedReport(time, TimeSpan.FromSeconds(1));

    /// <summary>The delay before the next attempt; each failure doubles it up to the maximum.</summary>
    internal TimeSpan NextDelay()
    {
        _delayMs = _delayMs == 0 ? FirstDelayMs : Math.Min(_delayMs * 2, MaxDelayMs);
        return TimeSpan.FromMilliseconds(_delayMs);
    }

    /// <summary>Whether this failure should be logged; if not, it is counted for the next report.</summary>
    internal bool ShouldReport(out int suppressed) => _report.ShouldReport(out suppressed);

    /// <summary>An accept succeeded: the next failure starts from the first delay again.</summary>
    internal void Reset() => _delayMs = 0;
}
