using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using DockerProxy.Hosting;
using DockerProxy.Native;

namespace DockerProxy.Relay.Udp;

/// <summary>
/// The listening UDP socket, read and written with recvmsg(2)/sendmsg(2) because the managed API
/// cannot do both things a drop-in needs without allocating per datagram: learn which local address
/// a client sent to (IP_PKTINFO / IPV6_RECVPKTINFO), and send the reply from that same address, so
/// that a wildcard bind on a multi-homed host answers from the address that was asked (as the
/// newest original does, moby cmd/docker-proxy/udp_proxy_linux.go). It is read and written by the
/// <see cref="UdpEventLoop"/>, which parses and writes the packet-info messages with the helpers here.
/// </summary>
internal sealed unsafe class UdpListener : IDisposable
{
    /// <summary>Receive buffer: every legal datagram (65527 bytes over IPv6) fits, none is truncated.</summary>
    internal const int MaxDatagram = 65535;

    // Large enough for a burst of small datagrams at once (the original, with defaults, loses 8-62%
    // of a 1,000-datagram burst); the kernel grants up to net.core.rmem_max, or this with CAP_NET_ADMIN.
    internal const int BufferBytes = 4 * 1024 * 1024;

    internal const int ControlBytes = 64;

    private readonly Socket _socket;
    private readonly bool _v6;

    private UdpListener(Socket socket, bool v6)
    {
        _socket = socket;
        _v6 = v6;
        int fd = (int)socket.SafeHandle.DangerousGetHandle();
        _ = _v6
            ? Libc.SetIntOption(fd, Libc.IpProtoIpv6, Libc.Ipv6RecvPktInfo, 1)
            : Libc.SetIntOption(fd, Libc.IpProtoIp, Libc.IpPktInfo, 1);
        (ReceiveBufferBytes, SendBufferBytes) = SocketBuffers.Raise(fd, BufferBytes);
        LocalEndPoint = socket.LocalEndPoint!;
    }

    internal EndPoint LocalEndPoint { get; }

    internal int ReceiveBufferBytes { get; }

    internal int SendBufferBytes { get; }

    /// <summary>Binds host:port as the original (Go net.ListenUDP): v6-only for IPv6, no SO_REUSEADDR.</summary>
    internal static UdpListener Bind(IPEndPoint endPoint)
    {
        bool v6 = endPoint.AddressFamily == AddressFamily.InterNetworkV6;
        Socket? socket = null;
        string step = "socket";
        try
        {
            socket = new Socket(endPoint.AddressFamily, SocketType.Dgram, ProtocolType.Udp); // EMFILE, EAFNOSUPPORT
            if (v6)
            {
                socket.DualMode = false;
            }

            step = "bind";
            socket.Bind(endPoint);
            return new UdpListener(socket, v6);
        }
        catch (SocketException e)
        {
            socket?.Dispose();
            string network = v6 ? "udp6" : "udp4";
            throw new StartupException($"failed to listen on {endPoint}: listen {network} {endPoint}: {step}: {Errno.Text(e)}", e);
        }
    }

    /// <summary>Wraps a socket adopted from fd 4 (already bound, with IP_PKTINFO set by dockerd).</summary>
    internal static UdpListener Adopt(Socket socket) =>
        new(socket, socket.AddressFamily == AddressFamily.InterNetworkV6);

    /// <summary>The socket, for the event loop's raw calls (always through <see cref="FdLease"/>).</summary>
    internal Socket Socket => _socket;

    public void Dispose() => _socket.Dispose();

    // cmsghdr on 64-bit Linux: size_t len; int level; int type; data at 16 (CMSG_ALIGN'ed header).
    internal static UdpEndpoint ReadPacketInfo(byte* control, int length)
    {
        int offset = 0;
        while (offset + 16 <= length)
        {
            long cmsgLength = *(long*)(control + offset);
            int level = *(int*)(control + offset + 8);
            int type = *(int*)(control + offset + 12);
            byte* data = control + offset + 16;
            if (level == Libc.IpProtoIp && type == Libc.IpPktInfo && cmsgLength >= 16 + 12)
            {
                // struct in_pktinfo { int ipi_ifindex; in_addr ipi_spec_dst; in_addr ipi_addr; }
                return UdpEndpoint.FromIPv4(new ReadOnlySpan<byte>(data + 8, 4), 0, *(uint*)data);
            }

            if (level == Libc.IpProtoIpv6 && type == Libc.Ipv6PktInfo && cmsgLength >= 16 + 20)
            {
                // struct in6_pktinfo { in6_addr ipi6_addr; unsigned ipi6_ifindex; }
                return UdpEndpoint.FromIPv6(new ReadOnlySpan<byte>(data, 16), 0, *(uint*)(data + 16));
            }

            if (cmsgLength < 16)
            {
                break;
            }

            offset += (int)((cmsgLength + 7) & ~7L);
        }

        return default;
    }

    internal static int WritePacketInfo(byte* control, in UdpEndpoint local)
    {
        new Span<byte>(control, ControlBytes).Clear();
        byte* data = control + 16;
        if (local.IsIPv6)
        {
            *(long*)control = 16 + 20;
            *(int*)(control + 8) = Libc.IpProtoIpv6;
            *(int*)(control + 12) = Libc.Ipv6PktInfo;
            local.WriteAddress(new Span<byte>(data, 16));
            *(uint*)(data + 16) = local.IsLinkLocal ? local.Scope : 0;
            return 16 + 24; // CMSG_SPACE(20)
        }

        *(long*)control = 16 + 12;
        *(int*)(control + 8) = Libc.IpProtoIp;
        *(int*)(control + 12) = Libc.IpPktInfo;
        local.WriteAddress(new Span<byte>(data + 4, 4)); // ipi_spec_dst: the source to use
        return 16 + 16; // CMSG_SPACE(12)
    }
}
