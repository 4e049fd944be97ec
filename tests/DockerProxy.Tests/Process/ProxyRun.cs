using System.Net;
using DockerProxy.Tests.Support;

namespace DockerProxy.Tests.Process;

/// <summary>Starts one implementation with dockerd's argv order and helps read what it reports.</summary>
internal static class ProxyRun
{
    /// <summary>dockerd's argv: -proto P -host-ip IP -host-port N -container-ip IP -container-port M [extra].</summary>
    internal static string[] EngineArgs(string proto, IPEndPoint host, IPEndPoint container, params string[] extra) =>
    [
        "-proto", proto,
        "-host-ip", host.Address.ToString(),
        "-host-port", host.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
        "-container-ip", container.Address.ToString(),
        "-container-port", container.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
        .. extra,
    ];

    internal static SpawnedProcess Start(string which, IEnumerable<string> args, SpawnOptions? options = null) =>
        SpawnedProcess.Start(Binaries.Path(which), args, options);

    /// <summary>Starts a TCP proxy host -> container and waits for "0\n" on fd 3.</summary>
    internal static async Task<SpawnedProcess> StartReadyAsync(string which, IPEndPoint host, IPEndPoint container, SpawnOptions? options = null)
    {
        SpawnedProcess proxy = Start(which, EngineArgs("tcp", host, container), options);
        string status = await proxy.ReadStatusTextAsync();
        status.Should().Be("0\n", "the proxy reports ready with exactly 0\\n");
        return proxy;
    }
}
