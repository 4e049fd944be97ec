using System.Net;
using System.Net.Sockets;
using DockerProxy.Logging;
using Microsoft.Extensions.Logging;

namespace DockerProxy.Relay.Sctp;

/// <summary>
/// One accepted client association and its backend association: dial the backend with as many
/// outbound streams as the client may use towards us, then pump messages both ways.
/// SCTP has no half-close (a peer that sent SHUTDOWN accepts no new data), so when one source
/// ends, the other side is shut down gracefully (what was already queued still reaches it) and the
/// other direction runs on until that shutdown completes; then both sockets are closed. Closing
/// only then also avoids the ABORT the kernel sends when a socket is closed with unread data.
/// </summary>
internal sealed class SctpAssociation
{
    private readonly Socket _client;
    private readonly IPEndPoint _container;
    private readonly ILogger _logger;
    private Socket? _backend;
    private int _aborted;

    internal SctpAssociation(Socket client, IPEndPoint container, ILogger logger)
    {
        _client = client;
        _container = container;
        _logger = logger;
    }

    internal async Task RunAsync()
    {
        EndPoint? clientAddress = _logger.IsEnabled(LogLevel.Debug) ? _client.RemoteEndPoint : null;
        SctpMessagePump? up = null, down = null;
        try
        {
            SctpSockets.ConfigureAssociation(_client);

            // The client may send on as many streams as it has outbound towards us: the backend
            // association needs that many, or a message on a high stream id could not go on.
            ushort streams = SctpNative.StreamCounts(_client)?.Inbound ?? 0;
            Socket backend;
            try
            {
                backend = SctpSockets.Open(_container.AddressFamily, outboundStreams: streams);
                _backend = backend;
                if (Volatile.Read(ref _aborted) != 0)
                {
                    return;
                }

                await backend.ConnectAsync(_container);
                SctpSockets.ConfigureAssociation(backend);
            }
            catch (SocketException e)
            {
                Log.SctpBackendDialFailed(_logger, _container, clientAddress, e.SocketErrorCode);
                SctpSockets.EndGracefully(_client);
                return;
            }

            if (_logger.IsEnabled(LogLevel.Debug))
            {
                Log.SctpAssociated(_logger, clientAddress, streams, SctpNative.StreamCounts(backend)?.Outbound ?? 0);
            }

            up = new SctpMessagePump(_client, backend);
            down = new SctpMessagePump(backend, _client);
            Task<SctpPumpEnd> upstream = RunDirectionAsync(up, backend);
            Task<SctpPumpEnd> downstream = RunDirectionAsync(down, _client);
            await Task.WhenAll(upstream, downstream);
            if (up.Split || down.Split)
            {
                Log.SctpMessageSplit(_logger, clientAddress, SctpMessagePump.MaxMessage);
            }
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
            Log.SctpAssociationClosed(_logger, clientAddress, up?.Messages ?? 0, up?.Bytes ?? 0, down?.Messages ?? 0, down?.Bytes ?? 0);
        }
    }

    /// <summary>Cuts both associations at once: the process is stopping.</summary>
    internal void Abort()
    {
        if (Interlocked.Exchange(ref _aborted, 1) != 0)
        {
            return;
        }

        _client.Dispose();
        _backend?.Dispose();
    }

    // When one source is done, whatever the reason, the other side learns it by a graceful
    // shutdown, which in turn ends the other direction once its last messages are through.
    private static async Task<SctpPumpEnd> RunDirectionAsync(SctpMessagePump pump, Socket destination)
    {
        SctpPumpEnd end = await pump.RunAsync();
        if (end != SctpPumpEnd.Aborted)
        {
            SctpSockets.ShutdownSend(destination);
        }

        return end;
    }
}
