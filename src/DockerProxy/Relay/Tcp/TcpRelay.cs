using System.Net;
using System.Net.Sockets;
using DockerProxy.Logging;
using DockerProxy.Metrics;
using Microsoft.Extensions.Logging;

namespace DockerProxy.Relay.Tcp;

/// <summary>
/// Accepts on one listener and relays every connection to one backend. Unlike the original, a
/// failed accept (out of fds, buffers) never ends the relay: it backs off and accepts again.
/// Disposing stops accepting, cuts every open connection and waits for each one to finish.
/// </summary>
internal sealed class TcpRelay : IRelay
{
    private readonly Socket _listener;
    private readonly IPEndPoint _container;
    private readonly ILogger _logger;
    private readonly AcceptBackoff _backoff;
    private readonly TcpRelayOptions _options;
    private readonly TimeProvider _time;
    private readonly RateLimitedReport _limitReport;
    private readonly RateLimitedReport _dialFailures;

    // The container's address as connect(2) takes it (IPEndPoint.Serialize gives the native
    // sockaddr), made once for every dial on the event loop.
    private readonly byte[] _containerSockaddr;
    private ITimer? _idleSweeper;

    // In the splice mode the listener is on the TCP event loop too: a connection is accepted, dialled
    // and relayed on one thread, with no hand-over between the socket engine's thread and the loop's.
    private PolledSocket? _polledListener;
    private readonly Readiness _acceptable = new();

    // Armed whenever the last connection ends: if none has come by the time it fires, the splice
    // pipes kept for reuse are closed, so a quiet proxy is back to its listener alone.
    private ITimer? _quietTimer;
    private readonly HashSet<TcpConnection> _connections = [];
    private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly object _gate = new();
    private bool _stopped;
    private bool _draining;
    private int _peakConnections;

    // Below this many connections at the peak, what a trim could give back is not worth a full GC.
    private const int TrimAfterPeak = 1024;

    // How long without a connection before the kept splice pipes are closed.
    private static readonly TimeSpan QuietDelay = TimeSpan.FromSeconds(1);

    internal TcpRelay(Socket listener, IPEndPoint container, ILogger logger, TimeProvider time)
        : this(listener, container, logger, time, TcpRelayOptions.Default)
    {
    }

    internal TcpRelay(Socket listener, IPEndPoint container, ILogger logger, TimeProvider time, TcpRelayOptions options)
    {
        _options = options;
        _time = time;
        _limitReport = new RateLimitedReport(time, TimeSpan.FromSeconds(1));
        _dialFailures = new RateLimitedReport(time, TimeSpan.FromSeconds(1));
        _listener = listener;
        _container = container;
        SocketAddress sockaddr = container.Serialize();
        _containerSockaddr = sockaddr.Buffer.Span[..sockaddr.Size].ToArray();
        _logger = logger;
        _backoff = new AcceptBackoff(time);

        // Set once on the listener, inherited by every accepted socket (Linux copies these
        // options to a connection it accepts): four setsockopt calls fewer per connection.
        TcpConnection.Configure(listener);
        LocalEndPoint = listener.LocalEndPoint!;
        if (options.CopyMode == CopyMode.Splice)
        {
            _ = TcpEventLoop.TryShared(); // its epoll set now, while fds are there; null: see TryShared
        }
    }

    public EndPoint LocalEndPoint { get; }

    public async Task RunAsync(CancellationToken stoppingToken)
    {
        using CancellationTokenRegistration registration = stoppingToken.Register(static state => ((TcpRelay)state!).CloseListener(), this);
        StartAcceptingOnLoop();
        if (_options.IdleTimeout is TimeSpan idle)
        {
            TimeSpan period = TimeSpan.FromTicks(Math.Clamp(idle.Ticks / 10, TimeSpan.FromMilliseconds(10).Ticks, TimeSpan.FromSeconds(5).Ticks));
            _idleSweeper = _time.CreateTimer(static state => ((TcpRelay)state!).CloseIdle(), this, period, period);
        }

        while (!stoppingToken.IsCancellationRequested)
        {
            Socket? client = _polledListener is { } polled
                ? await AcceptOnLoopAsync(polled, stoppingToken)
                : await _backoff.AcceptAsync(_listener, _logger, LocalEndPoint, stoppingToken);
            if (client is null)
            {
                break;
            }

            ProxyMetrics.ConnectionsAccepted.Add(1);
            if (_options.MaxConnections is int max && OpenConnections >= max)
            {
                // Over the limit: closed at once, so the client knows now instead of waiting.
                if (_limitReport.ShouldReport(out int suppressed))
                {
                    Log.ConnectionLimitReached(_logger, LocalEndPoint, max, suppressed);
                }

                ProxyMetrics.ConnectionsRefused.Add(1);
                client.Dispose();
                continue;
            }

            Log.Accepted(_logger, _logger.IsEnabled(LogLevel.Debug) ? client.RemoteEndPoint : null);
            Start(new TcpConnection(client, _container, _containerSockaddr, _logger, _options, _time, _dialFailures));
        }
    }

    private void StartAcceptingOnLoop()
    {
        if (_options.CopyMode != CopyMode.Splice || TcpEventLoop.TryShared() is not { } loop)
        {
            return;
        }

        var polled = new PolledSocket(_listener, _logger);
        try
        {
            _listener.Blocking = false; // an accept never waits on the loop's thread
            if (loop.Add(polled) == 0)
            {
                _polledListener = polled;
                return;
            }

            _listener.Blocking = true; // the socket engine accepts
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // Closed meanwhile (a stop signal right after the start): the accept finds it closed.
        }
    }

    // The next client, accepted on the loop's thread: wait for the listener's input edge, then
    // accept while poll(2) says a connection is queued. Failures back off as on the socket engine.
    // Null once the listener is closed.
    private async ValueTask<Socket?> AcceptOnLoopAsync(PolledSocket polled, CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                int seen = polled.ReadEdges;
                if (!_listener.Poll(0, SelectMode.SelectRead))
                {
                    if (!await polled.WhenReadable(seen, _acceptable))
                    {
                        return null; // closed
                    }

                    continue;
                }

                Socket client = _listener.Accept();
                _backoff.Reset();
                return client;
            }
            catch (ObjectDisposedException)
            {
                return null;
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.WouldBlock)
            {
                // The queued connection went away between the poll and the accept: wait again.
            }
            catch (SocketException e) when (SocketErrors.IsListenerClosed(e.SocketErrorCode) && stoppingToken.IsCancellationRequested)
            {
                return null;
            }
            catch (SocketException e)
            {
                if (!await _backoff.DelayAfterAsync(e, _logger, LocalEndPoint, stoppingToken))
                {
                    return null;
                }
            }
        }

        return null;
    }

    // Closes the listener (and ends the loop's wait on it, if any): no more clients are accepted.
    private void CloseListener()
    {
        _polledListener?.Close();
        _listener.Dispose();
    }

    public async Task DrainAsync(TimeSpan timeout, CancellationToken abandon)
    {
        int open;
        lock (_gate)
        {
            _draining = true;
            open = _connections.Count;
            if (open == 0)
            {
                _drained.TrySetResult();
            }
        }

        CloseListener(); // stop accepting: from now on new clients are refused
        if (open == 0)
        {
            return;
        }

        ServiceLog.Draining(_logger, LocalEndPoint, open, timeout);
        try
        {
            await _drained.Task.WaitAsync(timeout, _time, abandon);
        }
        catch (Exception e) when (e is TimeoutException or OperationCanceledException)
        {
            // The deadline passed or a second signal came: DisposeAsync cuts what is left.
        }

        int left = OpenConnections;
        ServiceLog.Drained(_logger, LocalEndPoint, open - left, left);
    }

    /// <summary>Connections being relayed now.</summary>
    internal int OpenConnections
    {
        get
        {
            lock (_gate)
            {
                return _connections.Count;
            }
        }
    }

    /// <summary>Closes every connection idle past the idle timeout. Runs on the sweeper timer.</summary>
    internal void CloseIdle()
    {
        if (_options.IdleTimeout is not TimeSpan idle)
        {
            return;
        }

        long now = _time.GetTimestamp();
        List<TcpConnection>? idleOnes = null;
        lock (_gate)
        {
            foreach (TcpConnection connection in _connections)
            {
                if (connection.Activity is { } activity && activity.IdleFor(now) >= idle)
                {
                    (idleOnes ??= []).Add(connection);
                }
            }
        }

        if (idleOnes is null)
        {
            return;
        }

        foreach (TcpConnection connection in idleOnes)
        {
            Log.ConnectionIdle(_logger, idle);
            connection.Abort(graceful: true);
        }
    }

    private void Start(TcpConnection connection)
    {
        lock (_gate)
        {
            if (_stopped || _draining)
            {
                connection.Abort();
                return;
            }

            _connections.Add(connection);
            _peakConnections = Math.Max(_peakConnections, _connections.Count);
        }

        ProxyMetrics.ConnectionsActive.Add(1);
        _ = RunConnectionAsync(connection);
    }

    private async Task RunConnectionAsync(TcpConnection connection)
    {
        try
        {
            await connection.RunAsync();
        }
        catch (Exception e)
        {
            // RunAsync handles what a connection's end may bring; anything else is a defect to
            // report, not to lose in a task nobody observes. Its sockets are closed by then.
            Log.ConnectionFailed(_logger, e);
        }
        finally
        {
            ProxyMetrics.ConnectionsActive.Add(-1);
            bool trim = false;
            bool quiet;
            lock (_gate)
            {
                _connections.Remove(connection);
                quiet = _connections.Count == 0;
                if ((_stopped || _draining) && _connections.Count == 0)
                {
                    _drained.TrySetResult();
                }

                // A crowd of connections has mostly gone: give back what its peak left behind.
                if (!_stopped && _peakConnections >= TrimAfterPeak && _connections.Count <= _peakConnections / 4)
                {
                    _peakConnections = _connections.Count;
                    _connections.TrimExcess();
                    trim = true;
                }
            }

            if (trim)
            {
                MemoryTrim.Now();
            }

            if (quiet)
            {
                ArmQuietTimer();
            }
        }
    }

    private void ArmQuietTimer()
    {
        lock (_gate)
        {
            if (_stopped)
            {
                return;
            }

            _quietTimer ??= _time.CreateTimer(static state => ((TcpRelay)state!).OnQuiet(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            _ = _quietTimer.Change(QuietDelay, Timeout.InfiniteTimeSpan);
        }
    }

    private void OnQuiet()
    {
        lock (_gate)
        {
            if (_stopped || _connections.Count > 0)
            {
                return;
            }
        }

        SplicePipePool.Shared.TrimIdle();
    }

    public async ValueTask DisposeAsync()
    {
        TcpConnection[] open;
        lock (_gate)
        {
            if (_stopped)
            {
                return;
            }

            _stopped = true;
            open = [.. _connections];
            if (open.Length == 0)
            {
                _drained.TrySetResult();
            }
        }

        if (_idleSweeper is not null)
        {
            await _idleSweeper.DisposeAsync();
        }

        ITimer? quietTimer;
        lock (_gate)
        {
            quietTimer = _quietTimer; // no new one once stopped
        }

        if (quietTimer is not null)
        {
            await quietTimer.DisposeAsync();
        }

        CloseListener();
        if (open.Length == 0)
        {
            return;
        }

        foreach (TcpConnection connection in open)
        {
            connection.Abort();
        }

        // Every connection ends at once when its sockets close; the bound only guards the stop,
        // which dockerd waits on without a limit.
        try
        {
            await _drained.Task.WaitAsync(TimeSpan.FromSeconds(2));
        }
        catch (TimeoutException)
        {
            // Leave the stragglers to process exit.
        }
    }
}
