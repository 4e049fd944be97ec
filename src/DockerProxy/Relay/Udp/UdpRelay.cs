using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
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
/// Invariants: one receive loop on the listener, holding a pooled buffer only while datagrams wait; one
/// reply loop per session that holds a pooled buffer only while a reply is in hand (it waits for
/// data with a zero-byte peek); the session table is bounded (LRU eviction) and swept by one timer;
/// a session lives while either side sends (the newest original; 20.10 counted only replies).
/// </summary>
internal sealed class UdpRelay : IRelay
{
    // How many datagrams one wake-up of the receive loop takes before it yields to others.
    private const int BatchSize = 64;

    private const int SessionBufferBytes = 1024 * 1024;

    // Below this many sessions at the peak, what a trim could give back is not worth a full GC.
    private const int TrimAfterPeak = 1024;

    // Sessions closed since the last trim that call for one even without a peak: clients that come
    // and go a few at a time never make a peak, but each closed session has lived long enough to
    // reach gen2, where a quiet proxy may never collect it. At least this many, and four times the
    // live count, so that the cost of a full GC per closed session stays small and constant; once
    // the table has emptied, the last of them are given back too, whatever the rate they came at.
    private const int TrimAfterChurn = 512;

    [ThreadStatic]
    private static byte[]? t_replyBuffer;

    private readonly UdpListener _listener;
    private readonly IPEndPoint _container;
    private readonly UdpRelayOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly SessionTable _sessions;
    private readonly RateLimitedReport _evictionReport;
    private readonly object _gate = new();
    private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _replyLoops;
    private int _peakSessions;
    private int _closedSinceTrim;
    private bool _stopped;
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
        LocalEndPoint = listener.LocalEndPoint;
        Log.UdpBuffers(logger, LocalEndPoint, listener.ReceiveBufferBytes, listener.SendBufferBytes);
    }

    public EndPoint LocalEndPoint { get; }

    /// <summary>Sessions open now.</summary>
    internal int SessionCount => _sessions.Count;

    public async Task RunAsync(CancellationToken stoppingToken)
    {
        using CancellationTokenRegistration registration = stoppingToken.Register(static state => ((UdpListener)state!).Dispose(), _listener);
        TimeSpan period = SweepPeriod(_options.IdleTimeout);
        _sweeper = _time.CreateTimer(static state => ((UdpRelay)state!).Sweep(), this, period, period);
        while (!stoppingToken.IsCancellationRequested)
        {
            // Take what is waiting first, then ask the socket engine to wait: a busy listener
            // is read without an extra syscall per wake-up. The buffer is held only for the
            // batch: an idle listener holds none (thousands of them in one process, -map).
            byte[] buffer = DatagramBufferPool.Shared.Rent();
            try
            {
                for (int i = 0; i < BatchSize; i++)
                {
                    int length = _listener.TryReceive(buffer, out UdpEndpoint client, out UdpEndpoint local);
                    if (length == -1)
                    {
                        break; // drained
                    }

                    if (length >= 0 && !client.IsEmpty)
                    {
                        await ForwardAsync(buffer.AsMemory(0, length), client, local);
                    }
                }
            }
            finally
            {
                DatagramBufferPool.Shared.Return(buffer);
            }

            try
            {
                _ = await _listener.WaitReadableAsync();
            }
            catch (ObjectDisposedException)
            {
                break;
            }
            catch (SocketException e) when (!SocketErrors.IsListenerClosed(e.SocketErrorCode))
            {
                continue; // a queued ICMP error surfaces here; the next datagram is unaffected
            }
            catch (SocketException)
            {
                break;
            }
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask ForwardAsync(ReadOnlyMemory<byte> datagram, UdpEndpoint client, UdpEndpoint local)
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
        int sent = DatagramIo.TrySend(session.Backend, datagram.Span);
        if (sent == DatagramIo.Transient)
        {
            sent = DatagramIo.TrySend(session.Backend, datagram.Span);
        }

        if (sent == DatagramIo.WouldBlock)
        {
            try
            {
                _ = await session.Backend.SendAsync(datagram, SocketFlags.None); // waits for room
                sent = 0;
            }
            catch (SocketException)
            {
            }
            catch (ObjectDisposedException)
            {
                return; // evicted or stopping meanwhile
            }
        }

        if (sent != 0)
        {
            Log.UdpDropped(_logger, client, SocketError.SocketError);
        }
        else
        {
            ProxyMetrics.BytesToContainer.Add(datagram.Length);
        }
    }

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
                Log.UdpDropped(_logger, client, e.SocketErrorCode);
                return null;
            }

            Evicted(oldest);
            try
            {
                backend = NewBackendSocket();
            }
            catch (SocketException again)
            {
                Log.UdpDropped(_logger, client, again.SocketErrorCode);
                return null;
            }
        }

        var session = new UdpSession(client, backend, now);
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
                session.Close();
                return null;
            }

            _replyLoops++;
        }

        _ = ReplyLoopAsync(session);
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

    private async Task ReplyLoopAsync(UdpSession session)
    {
        try
        {
            while (DrainReplies(session))
            {
                try
                {
                    // Wait for the next reply without holding a buffer.
                    _ = await session.Backend.ReceiveAsync(Memory<byte>.Empty, SocketFlags.Peek);
                }
                catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionRefused)
                {
                    // ICMP from the backend: not relayed, the session goes on.
                }
            }
        }
        catch (SocketException)
        {
            // Closed (expired, evicted, stopping) or failed: either way this session is over.
        }
        catch (ObjectDisposedException)
        {
        }
        finally
        {
            session.Close();
            lock (_gate)
            {
                if (--_replyLoops == 0 && _stopped)
                {
                    _drained.TrySetResult();
                }
            }
        }
    }

    // Relays every reply waiting on the session's socket; false once the session is closed. The
    // buffer is the thread's: it is used only between one recv and one sendmsg, with no await.
    private bool DrainReplies(UdpSession session)
    {
        byte[] buffer = t_replyBuffer ??= new byte[UdpListener.MaxDatagram];
        for (int i = 0; i < BatchSize; i++)
        {
            int length = DatagramIo.TryReceive(session.Backend, buffer);
            switch (length)
            {
                case DatagramIo.WouldBlock:
                    return !session.IsClosed;
                case DatagramIo.Transient:
                    continue;
                case DatagramIo.Closed:
                    return false;
            }

            _sessions.Touch(session, _time.GetTimestamp());
            int error = _listener.Send(buffer.AsSpan(0, length), session.Client, session.Local);
            if (error != 0)
            {
                Log.UdpReplyDropped(_logger, session.Client, Errno.Text(error));
            }
            else
            {
                ProxyMetrics.BytesToClient.Add(length);
            }
        }

        return !session.IsClosed;
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
            if (_replyLoops == 0)
            {
                _drained.TrySetResult();
            }
        }

        if (_sweeper is not null)
        {
            await _sweeper.DisposeAsync();
        }

        _listener.Dispose();
        foreach (UdpSession session in _sessions.RemoveAll())
        {
            session.Close();
        }

        try
        {
            await _drained.Task.WaitAsync(TimeSpan.FromSeconds(2));
        }
        catch (TimeoutException)
        {
            // Left to process exit.
        }
    }
}
