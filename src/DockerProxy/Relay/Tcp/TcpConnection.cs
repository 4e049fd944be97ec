using System.Net;
using System.Net.Sockets;
using DockerProxy.Logging;
using DockerProxy.Metrics;
using DockerProxy.Native;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;

namespace DockerProxy.Relay.Tcp;

/// <summary>
/// One accepted client and its backend connection: dial, then pump both directions until both have
/// ended, then close both sockets. <see cref="Abort"/> cuts it at once (the process is stopping).
/// </summary>
internal sealed class TcpConnection
{
    // The original's socket options on both legs (Go's net.ListenConfig and net.Dialer defaults):
    // keepalive probes after 15 s idle, every 15 s, so a peer that vanished without a reset is
    // found out; TCP_NODELAY, as Go sets it on every TCP socket.
    private const int KeepAliveSeconds = 15;

    private readonly Socket _client;
    private readonly IPEndPoint _container;
    private readonly byte[] _containerSockaddr;
    private readonly ILogger _logger;
    private readonly TcpRelayOptions _options;
    private readonly RateLimitedReport _dialFailures;
    private Socket? _backend;
    private TcpEventLoop? _loop;
    private PolledSocket? _clientPoll;
    private PolledSocket? _backendPoll;
    private int _aborted;

    internal TcpConnection(Socket client, IPEndPoint container, byte[] containerSockaddr, ILogger logger, TcpRelayOptions options, TimeProvider time, RateLimitedReport dialFailures)
    {
        _client = client;
        _containerSockaddr = containerSockaddr;
        _dialFailures = dialFailures;
        _container = container;
        _logger = logger;
        _options = options;
        Activity = options.IdleTimeout is null ? null : new FlowActivity(time);
    }

    /// <summary>Last traffic either way, when the relay enforces an idle timeout.</summary>
    internal FlowActivity? Activity { get; }

    internal async Task RunAsync()
    {
        EndPoint? clientAddress = _logger.IsEnabled(LogLevel.Debug) ? _client.RemoteEndPoint : null;
        long toContainer = 0, toClient = 0;
        // The splice mode runs on the TCP event loop; while the loop cannot be started (out of
        // fds), a connection goes through the Pipelines copy on the socket engine instead.
        TcpEventLoop? loop = _options.CopyMode == CopyMode.Splice ? TcpEventLoop.TryShared() : null;
        _loop = loop;
        bool onLoop = loop is not null;
        try
        {
            Socket backend;
            try
            {
                backend = new Socket(_container.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
                _backend = backend;
                Configure(backend);
                if (Volatile.Read(ref _aborted) != 0)
                {
                    return;
                }

                if (onLoop)
                {
                    if (!await ConnectOnLoopAsync(backend))
                    {
                        return; // aborted
                    }
                }
                else if (_options.ConnectTimeout is TimeSpan limit)
                {
                    using var timeout = new CancellationTokenSource(limit);
                    await backend.ConnectAsync(_container, timeout.Token);
                }
                else
                {
                    await backend.ConnectAsync(_container);
                }
            }
            catch (Exception e) when (e is SocketException or OperationCanceledException)
            {
                // Refused, timed out, or no fd for the backend socket (EMFILE): the client sees EOF
                // (FIN), as with a refused dial in the original, not a reset.
                // Logged as the original does (a warning for each), but at most once a second
                // with a count of the rest: a client hammering a stopped container cannot flood it.
                SocketError error = e is SocketException socketError ? socketError.SocketErrorCode : SocketError.TimedOut;
                if (_dialFailures.ShouldReport(out int suppressed))
                {
                    Log.BackendUnreachable(_logger, _container, e is SocketException known ? Errno.Text(known) : "connection timed out", suppressed);
                }
                else
                {
                    Log.BackendDialFailed(_logger, _container, clientAddress, error);
                }

                ProxyMetrics.BackendDialFailures.Add(1);
                EndClientGracefully();
                return;
            }

            IRelayDirection up, down;
            if (onLoop)
            {
                PolledSocket client = new(_client, _logger);
                Volatile.Write(ref _clientPoll, client);
                // Accepted on the loop, the client is non-blocking already (as its listener is).
                if (Volatile.Read(ref _aborted) != 0 || (_client.Blocking && !SetNonBlocking(_client)))
                {
                    return; // aborted
                }

                int added = loop!.Add(client);
                if (added != 0)
                {
                    // The kernel would not watch one more socket (ENOSPC past max_user_watches, ENOMEM).
                    if (added != Libc.EBadF)
                    {
                        Log.ConnectionFailed(_logger, new SocketException((int)Errno.ToSocketError(added)));
                    }

                    return;
                }

                var upward = new SpliceDirection(client, _backendPoll!, SplicePipePool.Shared, Activity);
                if (_options.ProxyProtocol != ProxyProtocolVersion.None
                    && !await upward.SendHeaderAsync(ProxyHeader.Build(_options.ProxyProtocol, _client.RemoteEndPoint, _client.LocalEndPoint)))
                {
                    return; // the backend went away before the first byte
                }

                up = upward;
                down = new SpliceDirection(_backendPoll!, client, SplicePipePool.Shared, Activity);
            }
            else
            {
                if (_options.ProxyProtocol != ProxyProtocolVersion.None)
                {
                    // Before either copy path starts: the header must be the backend's first bytes.
                    await ProxyHeader.SendAsync(backend, _client, _options.ProxyProtocol);
                }

                up = new DirectionPump(_client, backend, Activity);
                down = new DirectionPump(backend, _client, Activity);
            }

            Task upstream = up.RunAsync();
            Task downstream = down.RunAsync();
            await upstream;
            await downstream;
            toContainer = up.BytesSent;
            toClient = down.BytesSent;
        }
        catch (ObjectDisposedException)
        {
            // Aborted while dialling.
        }
        catch (SocketException)
        {
            // The client left before it could be set up.
        }
        finally
        {
            Forget(_clientPoll);
            Forget(_backendPoll);
            _client.Dispose();
            _backend?.Dispose();
            Log.ConnectionClosed(_logger, clientAddress, toContainer, toClient);
            ProxyMetrics.BytesToContainer.Add(toContainer);
            ProxyMetrics.BytesToClient.Add(toClient);
        }
    }

    // Dials the backend without the socket engine: a non-blocking connect(2), then the loop's
    // output edge, then SO_ERROR. The backend socket is on the loop from then on. False: aborted.
    private async Task<bool> ConnectOnLoopAsync(Socket backend)
    {
        if (!SetNonBlocking(backend))
        {
            return false;
        }

        int errno = StartConnect(backend, _containerSockaddr);
        if (errno != 0 && errno != Libc.EInProgress)
        {
            throw new SocketException((int)Errno.ToSocketError(errno));
        }

        PolledSocket polled = new(backend, _logger);
        Volatile.Write(ref _backendPoll, polled);
        int seen = polled.WriteEdges;
        int added = _loop!.Add(polled);
        if (Volatile.Read(ref _aborted) != 0 || added == Libc.EBadF)
        {
            return false;
        }

        if (added != 0)
        {
            throw new SocketException((int)Errno.ToSocketError(added));
        }

        if (errno == Libc.EInProgress)
        {
            // -connect-timeout ends the wait as an abort does; only the deadline tells them apart.
            using CancellationTokenSource? timeout = _options.ConnectTimeout is TimeSpan limit ? new CancellationTokenSource(limit) : null;
            using CancellationTokenRegistration cancel = timeout?.Token.UnsafeRegister(static state => ((PolledSocket)state!).Close(), polled) ?? default;
            if (!await polled.WhenWritable(seen, new Readiness()))
            {
                return timeout is { IsCancellationRequested: true } && Volatile.Read(ref _aborted) == 0
                    ? throw new OperationCanceledException(timeout.Token)
                    : false;
            }

            int error = PendingError(backend);
            if (error != 0)
            {
                throw new SocketException((int)Errno.ToSocketError(error));
            }
        }

        return true;
    }

    private static unsafe int StartConnect(Socket socket, byte[] sockaddr)
    {
        using var lease = new FdLease(socket);
        if (lease.Fd < 0)
        {
            return Libc.EBadF;
        }

        fixed (byte* raw = sockaddr)
        {
            return Libc.Connect(lease.Fd, raw, sockaddr.Length) == 0 ? 0 : Marshal.GetLastPInvokeError();
        }
    }

    private static unsafe int PendingError(Socket socket)
    {
        using var lease = new FdLease(socket);
        if (lease.Fd < 0)
        {
            return Libc.EBadF;
        }

        int error = 0;
        uint length = sizeof(int);
        return Libc.GetSockOpt(lease.Fd, Libc.SolSocket, Libc.SoError, &error, ref length) == 0 ? error : Marshal.GetLastPInvokeError();
    }

    // O_NONBLOCK on a socket of ours (its other status flags are clear: it is a plain socket). The
    // socket engine never sees it: every operation on it from here on is the loop's or a raw call.
    private static bool SetNonBlocking(Socket socket)
    {
        using var lease = new FdLease(socket);
        return lease.Fd >= 0 && Libc.Fcntl(lease.Fd, Libc.FSetFl, Libc.ONonBlock) == 0;
    }

    private void Forget(PolledSocket? polled)
    {
        if (polled is not null)
        {
            _loop!.Remove(polled);
        }
    }

    /// <summary>Cuts the connection: both sockets are closed, pending operations end, RunAsync returns.</summary>
    /// <param name="graceful">Send both peers a FIN first (an idle connection reclaimed), rather
    /// than leaving it to the close (the process is stopping).</param>
    internal void Abort(bool graceful = false)
    {
        if (Interlocked.Exchange(ref _aborted, 1) != 0)
        {
            return;
        }

        if (graceful)
        {
            ShutdownBoth(_client);
            ShutdownBoth(_backend);
        }

        // Waits on the loop end at once; then the sockets close under any call in flight.
        Volatile.Read(ref _clientPoll)?.Close();
        Volatile.Read(ref _backendPoll)?.Close();
        _client.Dispose();
        _backend?.Dispose();
    }

    private static void ShutdownBoth(Socket? socket)
    {
        try
        {
            socket?.Shutdown(SocketShutdown.Both);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // Already gone.
        }
    }

    // FIN first; then whatever the client already sent is read and dropped, so that closing the
    // socket does not turn into a reset (the kernel resets a close with unread data).
    private void EndClientGracefully()
    {
        try
        {
            _client.Shutdown(SocketShutdown.Send);
            Span<byte> discard = stackalloc byte[1024];
            for (int i = 0; i < 64 && _client.Available > 0; i++)
            {
                _ = _client.Receive(discard, SocketFlags.None);
            }
        }
        catch (SocketException)
        {
            // The client already left.
        }
        catch (ObjectDisposedException)
        {
            // Aborted meanwhile.
        }
    }

    /// <summary>The options of both legs; on a listener, for the connections it accepts.</summary>
    internal static void Configure(Socket socket)
    {
        socket.NoDelay = true;
        socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive, true);
        socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveTime, KeepAliveSeconds);
        socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveInterval, KeepAliveSeconds);
    }
}
