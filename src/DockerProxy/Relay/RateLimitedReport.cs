namespace DockerProxy.Relay;

/// <summary>
/// At most one report per interval for a recurring problem, with the count of the occurrences held
/// back since the last one, so a flood cannot flood the log.
/// </summary>
internal sealed class RateLimitedReport
{
    private readonly TimeProvider _time;
    private readonly TimeSpan _interval;
    private readonly object _gate = new();
    private long _lastReport;
    private bool _reportedOnce;
    private int _suppressed;

    internal RateLimitedReport(TimeProvider time, TimeSpan interval)
    {
        _time = time;
        _interval = interval;
    }

    /// <summary>Whether this occurrence should be logged; if not, it is counted for the next report.</summary>
    internal bool ShouldReport(out int suppressed)
    {
        lock (_gate)
        {
            long now = _time.GetTimestamp();
            if (_reportedOnce && _time.GetElapsedTime(_lastReport, now) < _interval)
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
    }
}
