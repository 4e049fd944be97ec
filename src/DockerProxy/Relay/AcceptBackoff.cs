namespace DockerProxy.Relay;

/// <summary>
/// Back-off after a failed accept: 10 ms doubling to 1 s, reset by the next success; and the
/// rate limit for reporting it: at most one log line per second, with the count of those held back.
/// </summary>
internal sealed class AcceptBackoff
{
    private const int FirstDelayMs = 10;
    private const int MaxDelayMs = 1000;
    private static readonly TimeSpan ReportInterval = TimeSpan.FromSeconds(1);

    private readonly TimeProvider _time;
    private int _delayMs;
    private long _lastReport;
    private bool _reportedOnce;
    private int _suppressed;

    internal AcceptBackoff(TimeProvider time) => _time = time;

    /// <summary>The delay before the next attempt; each failure doubles it up to the maximum.</summary>
    internal TimeSpan NextDelay()
    {
        _delayMs = _delayMs == 0 ? FirstDelayMs : Math.Min(_delayMs * 2, MaxDelayMs);
        return TimeSpan.FromMilliseconds(_delayMs);
    }

    /// <summary>Whether this failure should be logged; if not, it is counted for the next report.</summary>
    internal bool ShouldReport(out int suppressed)
    {
        long now = _time.GetTimestamp();
        if (_reportedOnce && _time.GetElapsedTime(_lastReport, now) < ReportInterval)
        {
            _suppressed++;
            suppressed = 0;
            return false;
        }

        _reportedOnce = true;
        _lastReport = now;
        suppressed = _suppressed;
        _suppressed = 0;
        return true;
    }

    /// <summary>An accept succeeded: the next failure starts from the first delay again.</summary>
    internal void Reset() => _delayMs = 0;
}
