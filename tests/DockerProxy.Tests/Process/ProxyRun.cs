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

    /// <summary>
    /// Before a stop signal: the Go originals install their handlers in a goroutine just after
    /// they write "0\n", and nothing outside the process shows when that is done, so they get a
    /// moment. Ours installs them before it reports ready and gets none, so that a regression
    /// there fails.
    /// </summary>
    internal static Task BeforeSignalAsync(string which) => which == Binaries.Ours ? Task.CompletedTask : Task.Delay(100);

    /// <summary>Starts a TCP proxy host -> container and waits for "0\n" on fd 3.</summary>
    internal static async Task<SpawnedProcess> StartReadyAsync(string which, IPEndPoint host, IPEndPoint container, SpawnOptions? options = null)
    {
        SpawnedProcess proxy = Start(which, EngineArgs("tcp", host, container), options);
        string status = await proxy.ReadStatusTextAsync();
        status.Should().Be("0\n", "the proxy reports ready with exactly 0\\n");
        return proxy;
    }
}
