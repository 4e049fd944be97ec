using System.Net;
using System.Net.Sockets;
using DockerProxy.Logging;
using DockerProxy.Metrics;
using DockerProxy.Native;
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
    private readonly ILogger _logger;
    private readonly TcpRelayOptions _options;
    private readonly RateLimitedReport _dialFailures;
    private Socket? _backend;
    private int _aborted;

    internal TcpConnection(Socket client, IPEndPoint container, ILogger logger, TcpRelayOptions options, TimeProvider time, RateLimitedReport dialFailures)
    {
        _client = client;
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

                if (_options.ConnectTimeout is TimeSpan limit)
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

            if (_options.ProxyProtocol != ProxyProtocolVersion.None)
            {
                // Before either copy path starts: the header must be the backend's first bytes.
                await ProxyHeader.SendAsync(backend, _client, _options.ProxyProtocol);
            }

            IRelayDirection up = CreateDirection(_client, backend);
            IRelayDirection down = CreateDirection(backend, _client);
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
            _client.Dispose();
            _backend?.Dispose();
            Log.ConnectionClosed(_logger, clientAddress, toContainer, toClient);
            ProxyMetrics.BytesToContainer.Add(toContainer);
            ProxyMetrics.BytesToClient.Add(toClient);
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

    private IRelayDirection CreateDirection(Socket source, Socket destination) => _options.CopyMode == CopyMode.Splice
        ? new SpliceDirection(source, destination, SplicePipePool.Shared, Activity)
        : new DirectionPump(source, destination, Activity);

    /// <summary>The options of both legs; on a listener, for the connections it accepts.</summary>
    internal static void Configure(Socket socket)
    {
        socket.NoDelay = true;
        socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive, true);
        socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveTime, KeepAliveSeconds);
        socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveInterval, KeepAliveSeconds);
    }
}
