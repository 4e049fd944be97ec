using System.Net;
using System.Net.Sockets;
using System.Text;
using DockerProxy.Relay;
using DockerProxy.Relay.Tcp;
using DockerProxy.Tests.Support;
using Microsoft.Extensions.Logging.Abstractions;

namespace DockerProxy.Tests.Relay.Tcp;

/// <summary>The PROXY protocol header, checked byte for byte against the HAProxy specification's layout.</summary>
public sealed class ProxyHeaderTests
{
    // Section 2.2 of the specification: the v2 signature.
    private static readonly byte[] Signature = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A];

    private static readonly IPEndPoint Client4 = new(IPAddress.Parse("192.0.2.1"), 56324);
    private static readonly IPEndPoint Listener4 = new(IPAddress.Parse("198.51.100.7"), 443);
    private static readonly IPEndPoint Client6 = new(IPAddress.Parse("2001:db8::1"), 56324);
    private static readonly IPEndPoint Listener6 = new(IPAddress.Parse("2001:db8::2"), 443);

    [Fact]
    public void V1_for_an_IPv4_client()
    {
        byte[] header = ProxyHeader.Build(ProxyProtocolVersion.V1, Client4, Listener4);

        Encoding.ASCII.GetString(header).Should().Be("PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r\n");
    }

    [Fact]
    public void V1_for_an_IPv6_client()
    {
        byte[] header = ProxyHeader.Build(ProxyProtocolVersion.V1, Client6, Listener6);

        Encoding.ASCII.GetString(header).Should().Be("PROXY TCP6 2001:db8::1 2001:db8::2 56324 443\r\n");
    }

    [Fact]
    public void V2_for_an_IPv4_client()
    {
        byte[] header = ProxyHeader.Build(ProxyProtocolVersion.V2, Client4, Listener4);

        header.Should().Equal([
            .. Signature,
            0x21, // version 2, PROXY
            0x11, // AF_INET, STREAM
            0x00, 0x0C, // 12 bytes follow
            192, 0, 2, 1,
            198, 51, 100, 7,
            0xDC, 0x04, // 56324
            0x01, 0xBB, // 443
        ]);
    }

    [Fact]
    public void V2_for_an_IPv6_client()
    {
        byte[] header = ProxyHeader.Build(ProxyProtocolVersion.V2, Client6, Listener6);

        header.Should().Equal([
            .. Signature,
            0x21, // version 2, PROXY
            0x21, // AF_INET6, STREAM
            0x00, 0x24, // 36 bytes follow
            0x20, 0x01, 0x0D, 0xB8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
            0x20, 0x01, 0x0D, 0xB8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02,
            0xDC, 0x04,
            0x01, 0xBB,
        ]);
    }

    [Fact]
    public void An_IPv4_client_of_a_dual_stack_listener_is_described_as_IPv4()
    {
        byte[] header = ProxyHeader.Build(ProxyProtocolVersion.V1,
            new IPEndPoint(IPAddress.Parse("::ffff:192.0.2.1"), 56324), new IPEndPoint(IPAddress.Parse("::ffff:198.51.100.7"), 443));

        Encoding.ASCII.GetString(header).Should().Be("PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r\n");
    }

    [Fact]
    public void An_unknown_client_gets_the_unknown_form()
    {
        Encoding.ASCII.GetString(ProxyHeader.Build(ProxyProtocolVersion.V1, null, Listener4)).Should().Be("PROXY UNKNOWN\r\n");
        ProxyHeader.Build(ProxyProtocolVersion.V2, Client4, Listener6).Should().Equal([.. Signature, 0x21, 0x00, 0x00, 0x00]);
    }

    /// <summary>Through a real relay, on both copy paths: the header comes first, then the client's bytes, and replies come back untouched.</summary>
    [Theory]
    [InlineData("splice", "v1", "127.0.0.1")]
    [InlineData("splice", "v2", "127.0.0.1")]
    [InlineData("pipelines", "v1", "127.0.0.1")]
    [InlineData("pipelines", "v2", "127.0.0.1")]
    [InlineData("splice", "v1", "::1")]
    [InlineData("splice", "v2", "::1")]
    [InlineData("pipelines", "v1", "::1")]
    [InlineData("pipelines", "v2", "::1")]
    public async Task The_backend_reads_the_header_before_the_first_relayed_byte(string copyMode, string version, string front)
    {
        using Socket backendListener = Peers.Listen(IPAddress.Loopback);
        var options = new TcpRelayOptions(copyMode == "splice" ? CopyMode.Splice : CopyMode.Pipelines)
        {
            ProxyProtocol = version == "v1" ? ProxyProtocolVersion.V1 : ProxyProtocolVersion.V2,
        };
        Socket listener = ListenerBinder.BindTcp(new IPEndPoint(IPAddress.Parse(front), 0));
        var relay = new TcpRelay(listener, (IPEndPoint)backendListener.LocalEndPoint!, NullLogger.Instance, TimeProvider.System, options);
        using var stop = new CancellationTokenSource();
        Task run = relay.RunAsync(stop.Token);
        try
        {
            var relayEndPoint = (IPEndPoint)relay.LocalEndPoint;
            (Socket client, Socket backend) = await RelayHost.ConnectThroughAsync(relayEndPoint, backendListener);
            using (client)
            using (backend)
            {
                var clientEndPoint = (IPEndPoint)client.LocalEndPoint!;
                byte[] expected = Expected(version, clientEndPoint, relayEndPoint);
                byte[] payload = Encoding.ASCII.GetBytes("GET / HTTP/1.0\r\n\r\n");
                await client.SendAsync(payload, SocketFlags.None);

                byte[] received = await Peers.ReadExactlyAsync(backend, expected.Length + payload.Length);
                received.Should().Equal([.. expected, .. payload]);

                await backend.SendAsync("reply"u8.ToArray(), SocketFlags.None);
                (await Peers.ReadExactlyAsync(client, 5)).Should().Equal("reply"u8.ToArray(), "nothing is added toward the client");
            }
        }
        finally
        {
            await stop.CancelAsync();
            await relay.DisposeAsync();
            await run.WaitAsync(RelayHost.StopPatience);
        }
    }

    // Written out from the specification's layout, independently of ProxyHeader.
    internal static byte[] Expected(string version, IPEndPoint client, IPEndPoint listener)
    {
        bool v6 = client.AddressFamily == AddressFamily.InterNetworkV6;
        if (version == "v1")
        {
            return Encoding.ASCII.GetBytes($"PROXY {(v6 ? "TCP6" : "TCP4")} {client.Address} {listener.Address} {client.Port} {listener.Port}\r\n");
        }

        byte[] source = client.Address.GetAddressBytes();
        byte[] destination = listener.Address.GetAddressBytes();
        int length = (2 * source.Length) + 4;
        return [
            .. Signature, 0x21, (byte)(v6 ? 0x21 : 0x11), 0x00, (byte)length,
            .. source, .. destination,
            (byte)(client.Port >> 8), (byte)client.Port, (byte)(listener.Port >> 8), (byte)listener.Port,
        ];
    }
}
