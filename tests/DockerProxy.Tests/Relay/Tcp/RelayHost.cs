using System.Net;
using System.Net.Sockets;
using DockerProxy.Relay;
using DockerProxy.Relay.Tcp;
using DockerProxy.Tests.Support;
using Microsoft.Extensions.Logging.Abstractions;

namespace DockerProxy.Tests.Relay.Tcp;

/// <summary>
/// An in-process <see cref="TcpRelay"/> on a loopback listener with port 0, running from creation
/// until disposed (stop token first, then DisposeAsync, as the process does it), every wait bounded.
/// </summary>
internal sealed class RelayHost : IAsyncDisposable
{
    internal static readonly TimeSpan StopPatience = TimeSpan.FromSeconds(10);

    private readonly CancellationTokenSource _stop = new();

    private RelayHost(TcpRelay relay)
    {
        Relay = relay;
        EndPoint = (IPEndPoint)relay.LocalEndPoint;
        Run = relay.RunAsync(_stop.Token);
    }

    internal TcpRelay Relay { get; }

    /// <summary>Where clients connect (the kernel's port).</summary>
    internal IPEndPoint EndPoint { get; }

    /// <summary>The relay's RunAsync task.</summary>
    internal Task Run { get; }

    /// <summary>
    /// A relay listening on front (127.0.0.1 unless given), port 0, relaying to backend, copying with
    /// copyMode as named on the command line ("splice" or "pipelines"; null: the default).
    /// </summary>
    internal static RelayHost Start(IPEndPoint backend, string? copyMode = null, IPAddress? front = null) => new(Create(backend, copyMode, front));

    /// <summary>A relay not yet running, for tests that drive RunAsync and DisposeAsync themselves.</summary>
    internal static TcpRelay Create(IPEndPoint backend, string? copyMode = null, IPAddress? front = null)
    {
        Socket listener = ListenerBinder.BindTcp(new IPEndPoint(front ?? IPAddress.Loopback, 0));
        TcpRelayOptions options = copyMode switch
        {
            null => TcpRelayOptions.Default,
            "splice" => new TcpRelayOptions(CopyMode.Splice),
            "pipelines" => new TcpRelayOptions(CopyMode.Pipelines),
            _ => throw new ArgumentOutOfRangeException(nameof(copyMode), copyMode, "splice or pipelines"),
        };
        return new TcpRelay(listener, backend, NullLogger.Instance, TimeProvider.System, options);
    }

    /// <summary>Connects a client through the relay and accepts the relay's connection at the backend.</summary>
    internal Task<(Socket Client, Socket Backend)> ConnectThroughAsync(Socket backendListener) =>
        ConnectThroughAsync(EndPoint, backendListener);

    internal static async Task<(Socket Client, Socket Backend)> ConnectThroughAsync(IPEndPoint relay, Socket backendListener)
    {
        Socket client = await Peers.ConnectAsync(relay);
        try
        {
            Socket backend = await backendListener.AcceptAsync().WaitAsync(Peers.Patience);
            return (client, backend);
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await Relay.DisposeAsync().AsTask().WaitAsync(StopPatience);
        await Run.WaitAsync(StopPatience);
        _stop.Dispose();
    }
}
