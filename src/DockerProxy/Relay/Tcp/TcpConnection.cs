using System.Net;
using System.Net.Sockets;
using DockerProxy.Logging;
using Microsoft.Extensions.Logging;

namespace DockerProxy.Relay.Tcp;

/// <summary>
/// One accepted client and its backend connection: dial, then pump both directions until both have
/// ended, then close both sockets. <see cref="Abort"/> cuts it at once (the process is stopping).
/// </summary>
internal sealed class TcpConnection
{
    // The original's client socket options (Go net.ListenConfig defaults): keepalive probes after
    // 15 s idle, every 15 s. TCP_NODELAY on both legs, as Go sets it on every TCP socket.
    private const int KeepAliveSeconds = 15;

    private readonly Socket _client;
    private readonly IPEndPoint _container;
    private readonly ILogger _logger;
    private readonly TcpRelayOptions _options;
    private Socket? _backend;
    private int _aborted;

    internal TcpConnection(Socket client, IPEndPoint container, ILogger logger, TcpRelayOptions options, TimeProvider time)
    {
        _client = client;
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
            ConfigureClient(_client);
            var backend = new Socket(_container.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            _backend = backend;
            if (Volatile.Read(ref _aborted) != 0)
            {
                return;
            }

            try
            {
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
                SocketError error = e is SocketException socketError ? socketError.SocketErrorCode : SocketError.TimedOut;
                Log.BackendDialFailed(_logger, _container, clientAddress, error);
                // The client sees EOF (FIN), as with the original, not a reset.
                try
                {
                    _client.Shutdown(SocketShutdown.Send);
                }
                catch (SocketException)
                {
                    // The client already left.
                }

                return;
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
        }
    }

    /// <summary>Cuts the connection: both sockets are closed, pending operations end, RunAsync returns.</summary>
    internal void Abort()
    {
        if (Interlocked.Exchange(ref _aborted, 1) != 0)
        {
            return;
        }

        _client.Dispose();
        _backend?.Dispose();
    }

    private IRelayDirection CreateDirection(Socket source, Socket destination) => _options.CopyMode == CopyMode.Splice
        ? new SpliceDirection(source, destination, SplicePipePool.Shared, Activity)
        : new DirectionPump(source, destination, Activity);

    private static void ConfigureClient(Socket client)
    {
        client.NoDelay = true;
        client.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive, true);
        client.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveTime, KeepAliveSeconds);
        client.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveInterval, KeepAliveSeconds);
    }
}
