using DockerProxy.Native;

namespace DockerProxy.Relay;

/// <summary>Raises a socket's kernel buffers as far as allowed: with CAP_NET_ADMIN (dockerd runs the
/// proxy as root) past net.core.rmem_max/wmem_max through SO_RCVBUFFORCE/SO_SNDBUFFORCE.</summary>
internal static class SocketBuffers
{
    /// <summary>Returns what the kernel granted (it doubles the value asked, for its bookkeeping).</summary>
    internal static (int Receive, int Send) Raise(int fd, int bytes)
    {
        if (!Libc.SetIntOption(fd, Libc.SolSocket, Libc.SoRcvBufForce, bytes))
        {
            _ = Libc.SetIntOption(fd, Libc.SolSocket, Libc.SoRcvBuf, bytes);
        }

        if (!Libc.SetIntOption(fd, Libc.SolSocket, Libc.SoSndBufForce, bytes))
        {
            _ = Libc.SetIntOption(fd, Libc.SolSocket, Libc.SoSndBuf, bytes);
        }

        return (Libc.GetIntOption(fd, Libc.SolSocket, Libc.SoRcvBuf) ?? 0, Libc.GetIntOption(fd, Libc.SolSocket, Libc.SoSndBuf) ?? 0);
    }
}
