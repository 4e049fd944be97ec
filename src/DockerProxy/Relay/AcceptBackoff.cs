using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using DockerProxy.Logging;
using Microsoft.Extensions.Logging;

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

    /// <summary>
    /// The next client of a stream listener (TCP, SCTP), or null once the listener is closed (the
    /// stopping token closes it). EMFILE, ENFILE, ENOBUFS, ENOMEM, ECONNABORTED...: the original
    /// exits here (moby#6402) and the port stays dead until the container restarts. Any failure of
    /// accept(2) while the listener is open is taken as passing: back off (up to 1 s), log at most
    /// once a second, and accept again.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))] // no allocation per accept
    internal async ValueTask<Socket?> AcceptAsync(Socket listener, ILogger logger, EndPoint local, CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                Socket client = await listener.AcceptAsync(CancellationToken.None); // the token closes the listener instead
                Reset();
                return client;
            }
            catch (ObjectDisposedException)
            {
                return null;
            }
            catch (SocketException e) when (SocketErrors.IsListenerClosed(e.SocketErrorCode) && stoppingToken.IsCancellationRequested)
            {
                return null;
            }
            catch (SocketException e)
            {
                if (!await DelayAfterAsync(e, logger, local, stoppingToken))
                {
                    return null;
                }
            }
        }

        return null;
    }

    /// <summary>After a failed accept: logs it (at most once a second) and waits the next delay.
    /// False when the stopping token ended the wait.</summary>
    internal async Task<bool> DelayAfterAsync(SocketException error, ILogger logger, EndPoint local, CancellationToken stoppingToken)
    {
        TimeSpan delay = NextDelay();
        if (ShouldReport(out int suppressed))
        {
            Log.AcceptFailed(logger, local, error.SocketErrorCode, suppressed, (int)delay.TotalMilliseconds);
        }

        try
        {
            await Task.Delay(delay, stoppingToken);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }
}
