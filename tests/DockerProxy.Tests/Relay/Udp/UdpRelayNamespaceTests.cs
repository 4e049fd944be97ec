using System.Net;
using System.Net.Sockets;
using DockerProxy.Tests.Process;
using DockerProxy.Tests.Support;

namespace DockerProxy.Tests.Relay.Udp;

/// <summary>
/// The reply source on a host with two real addresses on one interface, in a private network
/// namespace: a proxy bound to 0.0.0.0 must answer a client that sent to the second address from
/// that address, which only IP_PKTINFO gives (the kernel's own choice would be the first, primary
/// one). Needs root and iproute2; skipped with the reason otherwise, except under CI=true, where
/// both are expected and their absence fails the test.
/// </summary>
[Trait("Category", "Process")]
public sealed class UdpRelayNamespaceTests
{
    private const int ProxyPort = 4000; // a fresh namespace has every port free
    private static readonly IPAddress First = IPAddress.Parse("192.0.2.1");
    private static readonly IPAddress Second = IPAddress.Parse("192.0.2.2");

    public static TheoryData<string> NewestImplementations => Binaries.Newest;

    [SkippableTheory]
    [MemberData(nameof(NewestImplementations))]
    public async Task A_wildcard_bind_replies_from_the_second_address_of_an_interface(string which)
    {
        string binary = Binaries.Path(which);
        using NetNamespace ns = CreateNamespace();
        string device = AddTwoAddressDevice(ns);

        await using UdpEcho backend = new(ns.CreateSocket(() => Datagrams.Bind(IPAddress.Loopback)));
        string[] args = ["netns", "exec", ns.Name, binary, .. ProxyRun.EngineArgs("udp", new IPEndPoint(IPAddress.Any, ProxyPort), backend.EndPoint)];
        await using SpawnedProcess proxy = SpawnedProcess.Start(ns.IpTool, args);
        (await proxy.ReadStatusTextAsync()).Should().Be("0\n", "{0} starts inside {1} (device {2})", which, ns.Name, device);

        foreach (IPAddress address in new[] { Second, First })
        {
            using Socket client = ns.CreateSocket(() => Datagrams.Connect(new IPEndPoint(address, ProxyPort)));
            byte[] payload = Datagrams.Text($"{which} connected to {address}");
            (await Datagrams.RoundTripAsync(client, payload)).Should().Equal(payload, "the reply comes from {0}, the address asked", address);
        }

        using Socket open = ns.CreateSocket(() => Datagrams.Bind(IPAddress.Any));
        byte[] last = Datagrams.Text($"{which} unconnected to {Second}");
        _ = await open.SendToAsync(last, SocketFlags.None, new IPEndPoint(Second, ProxyPort)).WaitAsync(Datagrams.Patience);
        ReceivedDatagram? reply = await Datagrams.TryReceiveFromAsync(open);
        reply.Should().NotBeNull();
        reply!.From.Should().Be(new IPEndPoint(Second, ProxyPort));
        reply.Payload.Should().Equal(last);
        backend.Received().Select(d => d.From.Address).Should().AllBeEquivalentTo(IPAddress.Loopback);
    }

    [SkippableFact]
    public async Task A_container_without_a_route_costs_its_datagrams_not_the_relay()
    {
        // In a namespace with only lo, a UDP socket cannot even be connected to 198.51.100.1
        // (ENETUNREACH): the datagram is dropped and logged as such; nothing is sent anywhere.
        string binary = Binaries.Path(Binaries.Ours);
        using NetNamespace ns = CreateNamespace();
        var unroutable = new IPEndPoint(IPAddress.Parse("198.51.100.1"), 53);
        string[] args = ["netns", "exec", ns.Name, binary, .. ProxyRun.EngineArgs("udp", new IPEndPoint(IPAddress.Loopback, ProxyPort), unroutable, "-log-level", "debug")];
        await using SpawnedProcess proxy = SpawnedProcess.Start(ns.IpTool, args);
        (await proxy.ReadStatusTextAsync()).Should().Be("0\n");

        using (Socket client = ns.CreateSocket(() => Datagrams.Connect(new IPEndPoint(IPAddress.Loopback, ProxyPort))))
        {
            for (int i = 0; i < 3; i++)
            {
                _ = await client.SendAsync(Datagrams.Text($"lost {i}"), SocketFlags.None).WaitAsync(Datagrams.Patience);
            }

            (await Datagrams.TryReceiveAsync(client, TimeSpan.FromMilliseconds(300))).Should().BeNull("there is no container to answer");
        }

        // The drops are logged as the relay takes the datagrams: wait for all three (on a busy
        // machine the relay may take them later than the 300 ms above) before stopping it.
        await proxy.WaitForStderrAsync(log => DropLines(log) >= 3, Datagrams.Patience);
        proxy.HasExited.Should().BeFalse("the relay goes on");
        proxy.Signal(Posix.SigTerm);
        (await proxy.WaitForExitAsync()).Should().Be(0);
        string log = await proxy.StderrAsync();
        DropLines(log).Should().Be(3, "each datagram is dropped and logged, and the relay does not fail:\n{0}", log);
        log.Should().NotContain("failed");
    }

    private static int DropLines(string log) => log.Split('\n').Count(line =>
        line.Contains("Dropped a datagram", StringComparison.Ordinal) && line.Contains("network is unreachable", StringComparison.Ordinal));

    // A fresh namespace with lo up; skips (or fails under CI=true) where none can be made.
    private static NetNamespace CreateNamespace()
    {
        string? ip = NetNamespace.FindIpTool();
        Require(Environment.IsPrivilegedProcess, "network namespaces need root");
        Require(ip is not null, "iproute2 (ip) is not installed");

        NetNamespace? created = null;
        try
        {
            created = NetNamespace.Create(ip!);
        }
        catch (InvalidOperationException e)
        {
            Require(false, $"cannot create a network namespace here: {e.Message}");
        }

        try
        {
            created!.Ip("link", "set", "lo", "up");
            return created;
        }
        catch
        {
            created!.Dispose();
            throw;
        }
    }

    // A dummy interface as on a real host; where the kernel has no dummy driver, one end of a
    // veth pair inside the namespace serves the same (both addresses on one interface).
    private static string AddTwoAddressDevice(NetNamespace ns)
    {
        string device = "d0";
        if (!ns.TryIp("link", "add", device, "type", "dummy"))
        {
            device = "v0";
            ns.Ip("link", "add", device, "type", "veth", "peer", "name", "v1");
            ns.Ip("link", "set", "v1", "up");
        }

        ns.Ip("addr", "add", "192.0.2.1/24", "dev", device);
        ns.Ip("addr", "add", "192.0.2.2/24", "dev", device);
        ns.Ip("link", "set", device, "up");
        return device;
    }

    private static void Require(bool condition, string reason)
    {
        if (condition)
        {
            return;
        }

        if (Environment.GetEnvironmentVariable("CI") == "true")
        {
            throw new InvalidOperationException($"under CI=true this test must run: {reason}");
        }

        Skip.If(true, reason);
    }
}
