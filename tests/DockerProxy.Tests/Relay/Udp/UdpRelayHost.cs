using System.Net;
using DockerProxy.Relay.Udp;
using Microsoft.Extensions.Logging.Abstractions;

namespace DockerProxy.Tests.Relay.Udp;

/// <summary>
/// An in-process <see cref="UdpRelay"/> on front:0 (127.0.0.1 unless given), running from creation
/// until disposed (stop token first, then DisposeAsync, as the process does it), every wait bounded.
/// </summary>
internal sealed class UdpRelayHost : IAsyncDisposable
{
    private static readonly TimeSpan StopPatience = TimeSpan.FromSeconds(10);

    private readonly CancellationTokenSource _stop = new();

    private UdpRelayHost(UdpRelay relay)
    {
        Relay = relay;
        EndPoint = (IPEndPoint)relay.LocalEndPoint;
        Run = relay.RunAsync(_stop.Token);
    }

    internal UdpRelay Relay { get; }

    /// <summary>The listener's address (the kernel's port; 0.0.0.0 for a wildcard bind).</summary>
    internal IPEndPoint EndPoint { get; }

    internal Task Run { get; }

    internal static UdpRelayHost Start(IPEndPoint backend, IPAddress? front = null, UdpRelayOptions? options = null, TimeProvider? time = null) =>
        new(new UdpRelay(
            UdpListener.Bind(new IPEndPoint(front ?? IPAddress.Loopback, 0)),
            backend,
            options ?? new UdpRelayOptions(UdpRelayOptions.DefaultIdleTimeout, UdpRelayOptions.DefaultMaxSessions),
            NullLogger.Instance,
            time ?? TimeProvider.System));

    /// <summary>The relay's port at a given address (for a wildcard bind: any local address).</summary>
    internal IPEndPoint At(IPAddress address) => new(address, EndPoint.Port);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await Relay.DisposeAsync().AsTask().WaitAsync(StopPatience);
        await Run.WaitAsync(StopPatience);
        _stop.Dispose();
    }
}
