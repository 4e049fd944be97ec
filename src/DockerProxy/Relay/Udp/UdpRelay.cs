using System.Net;
using System.Net.Sockets;
using DockerProxy.Logging;
using DockerProxy.Metrics;
using DockerProxy.Native;
using Microsoft.Extensions.Logging;

namespace DockerProxy.Relay.Udp;

/// <summary>
/// Relays UDP NAT style (SPEC section 4): one session per client address, each with its own
/// connected backend socket; datagrams from the client go out on it, replies read from it go back
/// from the listening socket with the source address the client sent to.
///
/// Invariants: the listener and every session's socket are watched by the process's one
/// <see cref="UdpEventLoop"/> (no thread, task or buffer per session); the session table is bounded
/// (LRU eviction) and swept by one timer; a session lives while either side sends (the newest
/// original; 20.10 counted only replies).
/// </summary>
internal sealed class UdpRelay : LoopMember, IRelay
{
    // Calls to recvmmsg one wake-up makes on a busy listener before it lets the other sockets in.
    private const int ReceiveRounds = 4;

    private const int SessionBufferBytes = 1024 * 1024;

    // Below this many sessions at the peak, what a trim could give back is not worth a full GC.
    private const int TrimAfterPeak = 1024;

    // Sessions closed since the last trim that call for one even without a peak: clients that come
    // and go a few at a time never make a peak, but each closed session has lived long enough to
    // reach gen2, where a quiet proxy may never collect it. At least this many, and four times the
    // live count, so that the cost of a full GC per closed session stays small and constant; once
    // the table has emptied, the last of them are given back too, whatever the rate they came at.
    private const int TrimAfterChurn = 512;

    private readonly UdpListener _listener;
    private readonly IPEndPoint _container;
    private readonly UdpRelayOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly SessionTable _sessions;
    private readonly RateLimitedReport _evictionReport;
    private readonly RateLimitedReport _dropReport;
    private readonly object _gate = new();
    private readonly TaskCompletionSource _stoppedListening = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _peakSessions;
    private int _closedSinceTrim;
    private bool _stopped;
    private bool _watched;
    private ITimer? _sweeper;

    internal UdpRelay(UdpListener listener, IPEndPoint container, UdpRelayOptions options, ILogger logger, TimeProvider time)
    {
        _listener = listener;
        _container = container;
        _options = options;
        _logger = logger;
        _time = time;
        _sessions = new SessionTable(options.MaxSessions);
        _evictionReport = new RateLimitedReport(time, TimeSpan.FromSeconds(1));
        _dropReport = new RateLimitedReport(time, TimeSpan.FromSeconds(1));
        LocalEndPoint = listener.LocalEndPoint;
        Log.UdpBuffers(logger, LocalEndPoint, listener.ReceiveBufferBytes, listener.SendBufferBytes);
    }

    public EndPoint LocalEndPoint { get; }

    /// <summary>Sessions open now.</summary>
    internal int SessionCount => _sessions.Count;

    /// <summary>The listening socket, for the event loop's sendmmsg.</summary>
    internal Socket ListenerSocket => _listener.Socket;

    public async Task RunAsync(CancellationToken stoppingToken)
    {
        TimeSpan period = SweepPeriod(_options.IdleTimeout);
        lock (_gate)
        {
            if (_stopped)
            {
                return;
            }

            int error = UdpEventLoop.Shared.Add(this, _listener.Socket);
            if (error != 0)
            {
                throw new SocketException(error);
            }

            _watched = true;
            _sweeper = _time.CreateTimer(static state => ((UdpRelay)state!).Sweep(), this, period, period);
        }

        using CancellationTokenRegistration registration = stoppingToken.Register(static state => ((UdpRelay)state!).StopListening(), this);
        await _stoppedListening.Task;
    }

    // Leaves the loop and closes the listener: no datagram is taken after this.
    private void StopListening()
    {
        lock (_gate)
        {
            if (_watched)
            {
                _watched = false;
                UdpEventLoop.Shared.Remove(this, _listener.Socket);
            }
        }

        _listener.Dispose();
        _ = _stoppedListening.TrySetResult();
    }

    /// <summary>Datagrams wait on the listener: each goes to its client's session.</summary>
    internal override void OnReadable(UdpEventLoop loop)
    {
        for (int round = 0; round < ReceiveRounds; round++)
        {
            int count = loop.ReceiveFrom(_listener.Socket);
            if (count == DatagramIo.Transient)
            {
                continue; // a queued ICMP error: the next datagram is unaffected
            }

            if (count < 0)
            {
                return; // drained, or closed
            }

            for (int i = 0; i < count; i++)
            {
                ReadOnlySpan<byte> datagram = loop.Received(i, out UdpEndpoint client, out UdpEndpoint local);
                if (!client.IsEmpty)
                {
                    Forward(datagram, client, local);
                }
            }

            if (count < UdpEventLoop.ReceiveBatch)
            {
                return; // that was all
            }
        }
    }

    internal override void OnFault(Exception error) => Log.RelayFailed(_logger, LocalEndPoint, error);

    private void Forward(ReadOnlySpan<byte> datagram, in UdpEndpoint client, in UdpEndpoint local)
    {
        long now = _time.GetTimestamp();
        UdpSession? session = _sessions.Find(client, now) ?? Open(client, now);
        if (session is null)
        {
            return;
        }

        session.Local = local;

        // A stale ICMP port-unreachable from an earlier datagram is reported on the next send: it
        // says nothing about this one. Send again, once.
        int sent = DatagramIo.TrySend(session.Backend, datagram, out int errno);
        if (sent == DatagramIo.Transient)
        {
            sent = DatagramIo.TrySend(session.Backend, datagram, out errno);
        }

        if (sent == DatagramIo.Closed)
        {
            // Expired by the sweeper at this very moment: the client is still here.
            Discard(session);
            session = Open(client, now);
            if (session is null)
            {
                return;
            }

            session.Local = local;
            sent = DatagramIo.TrySend(session.Backend, datagram, out errno);
        }

        if (sent != 0)
        {
            // WouldBlock: a 1 MiB send buffer to the backend is full; the loop does not wait.
            // Dropped: this datagram cannot go (too large for the container's family, no route,
            // a firewall); the session and its source port stay for the next one.
            Dropped(client, Errno.Text(errno));
        }
        else
        {
            ProxyMetrics.BytesToContainer.Add(datagram.Length);
        }
    }

    /// <summary>A session's socket is readable: its reply joins the loop's batch.</summary>
    internal void OnReply(UdpEventLoop loop, UdpSession session)
    {
        int length = loop.ReceiveReply(session.Backend, this, session.Client, session.Local);
        if (length >= 0)
        {
            _sessions.Touch(session, _time.GetTimestamp());
        }
        else if (length == DatagramIo.Closed)
        {
            Discard(session); // broken (or closed meanwhile): either way this session is over
        }

        // WouldBlock: nothing after all; Transient: ICMP from the backend, not relayed.
    }

    // A datagram that could not be sent on: a warning at most once a second, with a count of the
    // rest (the original logs each); the others at debug.
    private void Dropped(in UdpEndpoint client, string error)
    {
        if (_dropReport.ShouldReport(out int suppressed))
        {
            Log.UdpDroppedReported(_logger, client, error, suppressed);
        }
        else
        {
            Log.UdpDropped(_logger, client, error);
        }
    }

    /// <summary>The loop could not send a reply of this relay.</summary>
    internal void ReplyDropped(in UdpEndpoint client, int errno) => Log.UdpReplyDropped(_logger, client, Errno.Text(errno));

    private UdpSession? Open(in UdpEndpoint client, long now)
    {
        Socket backend;
        try
        {
            backend = NewBackendSocket();
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.TooManyOpenSockets or SocketError.NoBufferSpaceAvailable)
        {
            // Out of fds: give the least recently used session's to this client, then try once more.
            UdpSession? oldest = _sessions.RemoveOldest();
            if (oldest is null)
            {
                Dropped(client, Errno.Text(e));
                return null;
            }

            Evicted(oldest);
            try
            {
                backend = NewBackendSocket();
            }
            catch (SocketException again)
            {
                Dropped(client, Errno.Text(again));
                return null;
            }
        }
        catch (SocketException e)
        {
            // No route to the container, or the like: this datagram cannot go; the others can.
            Dropped(client, Errno.Text(e));
            return null;
        }

        var session = new UdpSession(this, client, backend, now);
        int error = UdpEventLoop.Shared.Add(session, backend);
        if (error != 0)
        {
            // Out of epoll watches (fs.epoll.max_user_watches): the client is not served.
            backend.Dispose();
            Dropped(client, Errno.Text(error));
            return null;
        }

        session.Registered = true;
        UdpSession? evicted = _sessions.Add(session);
        ProxyMetrics.UdpSessionsCreated.Add(1);
        ProxyMetrics.UdpSessionsActive.Add(1);
        if (evicted is not null)
        {
            Evicted(evicted);
        }

        Log.UdpSessionOpened(_logger, client, _logger.IsEnabled(LogLevel.Debug) ? backend.LocalEndPoint : null);
        lock (_gate)
        {
            if (_stopped)
            {
                _ = _sessions.Remove(session);
                session.Close();
                return null;
            }
        }

        return session;
    }

    private Socket NewBackendSocket()
    {
        var backend = new Socket(_container.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            backend.Connect(_container); // a connected UDP socket: its own ephemeral source port
            _ = SocketBuffers.Raise((int)backend.SafeHandle.DangerousGetHandle(), SessionBufferBytes);
            return backend;
        }
        catch
        {
            backend.Dispose();
            throw;
        }
    }

    // Ends a session that failed (or was closed meanwhile), taking it out of the table if it is there.
    private void Discard(UdpSession session)
    {
        if (_sessions.Remove(session))
        {
            _ = Interlocked.Increment(ref _closedSinceTrim);
            ProxyMetrics.UdpSessionsActive.Add(-1);
        }

        session.Close();
    }

    private void Evicted(UdpSession session)
    {
        session.Close();
        _ = Interlocked.Increment(ref _closedSinceTrim);
        ProxyMetrics.UdpSessionsEvicted.Add(1);
        ProxyMetrics.UdpSessionsActive.Add(-1);
        if (_evictionReport.ShouldReport(out int suppressed))
        {
            Log.UdpSessionEvicted(_logger, LocalEndPoint, session.Client, _sessions.Capacity, suppressed);
        }
    }

    /// <summary>Closes every session idle past the timeout. Runs on the sweeper timer.</summary>
    internal void Sweep()
    {
        List<UdpSession> expired = _sessions.RemoveIdle(_time.GetTimestamp(), _options.IdleTimeout, _time);
        foreach (UdpSession session in expired)
        {
            Log.UdpSessionExpired(_logger, session.Client);
            session.Close();
            ProxyMetrics.UdpSessionsActive.Add(-1);
        }

        int count = _sessions.Count;
        _peakSessions = Math.Max(_peakSessions, count + expired.Count);
        int closed = Interlocked.Add(ref _closedSinceTrim, expired.Count);
        bool afterPeak = _peakSessions >= TrimAfterPeak && count <= _peakSessions / 4;
        bool emptied = count == 0 && expired.Count > 0 && closed >= TrimAfterChurn / 8; // just now
        bool afterChurn = closed >= Math.Max(TrimAfterChurn, 4 * count) || emptied;
        if (afterPeak || afterChurn)
        {
            // A crowd of clients came and went, or many came and went a few at a time: give back
            // what they left behind (the index's room, and the sessions' objects, long promoted
            // and otherwise collected only when the next full GC happens to come).
            _peakSessions = count;
            _ = Interlocked.Exchange(ref _closedSinceTrim, 0);
            _sessions.TrimExcess();
            MemoryTrim.Now();
        }
    }

    // Expiry is checked a few times per timeout (at most every 5 s): a session lives between the
    // timeout and the timeout plus one period.
    private static TimeSpan SweepPeriod(TimeSpan timeout)
    {
        long ticks = Math.Clamp(timeout.Ticks / 10, TimeSpan.FromMilliseconds(10).Ticks, TimeSpan.FromSeconds(5).Ticks);
        return TimeSpan.FromTicks(ticks);
    }

    public async ValueTask DisposeAsync()
    {
        lock (_gate)
        {
            if (_stopped)
            {
                return;
            }

            _stopped = true;
        }

        if (_sweeper is not null)
        {
            await _sweeper.DisposeAsync();
        }

        StopListening();
        foreach (UdpSession session in _sessions.RemoveAll())
        {
            session.Close();
        }
    }
}
