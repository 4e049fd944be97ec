using System.Net.Sockets;
using DockerProxy.Native;

namespace DockerProxy.Hosting;

/// <summary>
/// The listener dockerd 28+ passes on fd 4 with -use-listen-fd: already bound (TCP: listening,
/// UDP: with IP_PKTINFO set), blocking, SO_REUSEADDR. It is used as it is, never bound or listened
/// again (a second UDP socket bound beside it would steal its datagrams). As the original does
/// (net.FileListener), the fd is duplicated, the copy made non-blocking, and fd 4 closed.
/// </summary>
internal static class InheritedListener
{
    internal const int Fd = 4;

    internal static Socket Adopt(string proto) => Adopt(proto, Fd);

    /// <summary>Adopts the listener on <paramref name="fd"/>: 4 from dockerd, 3 under socket activation.</summary>
    internal static Socket Adopt(string proto, int fd)
    {
        string origin = fd == Fd ? "-use-listen-fd" : "socket activation";
        if (!InheritedFds.Passed(fd))
        {
            throw new StartupException($"{origin}: no listener on fd {fd}: {Errno.Text(Libc.EBadF)}");
        }

        int? type = Libc.GetIntOption(fd, Libc.SolSocket, Libc.SoType);
        if (type is null)
        {
            throw new StartupException($"{origin}: fd {fd} is not a socket");
        }

        int domain = Libc.GetIntOption(fd, Libc.SolSocket, Libc.SoDomain) ?? 0;
        int protocol = Libc.GetIntOption(fd, Libc.SolSocket, Libc.SoProtocol) ?? 0;
        string network = NetworkName(domain, type.Value, protocol);
        if (network != proto)
        {
            // The original's wording (moby cmd/docker-proxy/main_linux.go, newProxy).
            throw new StartupException($"unexpected socket type for listener fd: {network}");
        }

        if (proto == "tcp" && Libc.GetIntOption(fd, Libc.SolSocket, Libc.SoAcceptConn) != 1)
        {
            throw new StartupException($"{origin}: the socket on fd {fd} is not listening");
        }

        int copy = Libc.Fcntl(fd, Libc.FDupFdCloExec, 5);
        if (copy < 0)
        {
            throw new StartupException($"{origin}: dup fd {fd}: {Errno.Text(System.Runtime.InteropServices.Marshal.GetLastPInvokeError())}");
        }

        _ = Libc.Close(fd);
        int flags = Libc.Fcntl(copy, Libc.FGetFl, 0);
        _ = Libc.Fcntl(copy, Libc.FSetFl, flags | Libc.ONonBlock);
        return new Socket(new SafeSocketHandle(copy, ownsHandle: true));
    }

    // Go's names for what net.FileListener / net.FilePacketConn find.
    private static string NetworkName(int domain, int type, int protocol) => (domain, type) switch
    {
        (Libc.AfInet or Libc.AfInet6, Libc.SockStream) => protocol == Libc.IpProtoSctp ? "sctp" : "tcp",
        (Libc.AfInet or Libc.AfInet6, Libc.SockDgram) => "udp",
        (Libc.AfInet or Libc.AfInet6, Libc.SockSeqPacket) => "sctp",
        (1, Libc.SockStream) => "unix",
        (1, Libc.SockDgram) => "unixgram",
        (1, Libc.SockSeqPacket) => "unixpacket",
        _ => $"unknown (domain {domain}, type {type})",
    };
}
