using System.Runtime.InteropServices;

namespace DockerProxy.Native;

/// <summary>
/// The few libc calls the process contract needs and .NET has no API for: raw fd 3 and fd 4
/// handling (fcntl, write, close), socket introspection (getsockopt) and signal dispositions.
/// Linux x86-64 and arm64 values; the program is Linux-only, as the original.
/// </summary>
internal static unsafe partial class Libc
{
    internal const int FGetFd = 1;
    internal const int FSetFd = 2;
    internal const int FGetFl = 3;
    internal const int FSetFl = 4;
    internal const int FDupFdCloExec = 1030;
    internal const int FdCloExec = 1;
    internal const int ONonBlock = 0x800;

    internal const int SolSocket = 1;
    internal const int SoReuseAddr = 2;
    internal const int SoType = 3;
    internal const int SoAcceptConn = 30;
    internal const int SoProtocol = 38;
    internal const int SoDomain = 39;
    internal const int SockStream = 1;
    internal const int SockDgram = 2;
    internal const int SockSeqPacket = 5;
    internal const int AfInet = 2;
    internal const int AfInet6 = 10;
    internal const int IpProtoSctp = 132;

    internal const int SoSndBuf = 7;
    internal const int SoRcvBuf = 8;
    internal const int SoSndBufForce = 32;
    internal const int SoRcvBufForce = 33;
    internal const int IpProtoIp = 0;
    internal const int IpProtoIpv6 = 41;
    internal const int IpPktInfo = 8;
    internal const int Ipv6RecvPktInfo = 49;
    internal const int Ipv6PktInfo = 50;
    internal const int MsgTrunc = 0x20;
    internal const int MsgDontWait = 0x40;
    internal const int MsgNoSignal = 0x4000;
    internal const int EAgain = 11;
    internal const int EInval = 22;
    internal const int EPipe = 32;
    internal const int ENoSys = 38;
    internal const int ECONNRESET = 104;
    internal const int OCloExec = 0x80000;
    internal const int FSetPipeSz = 1031;
    internal const uint SpliceFMove = 1;
    internal const uint SpliceFNonBlock = 2;
    internal const int EConnRefused = 111;
    internal const int EInProgress = 115;
    internal const int SoError = 4;

    internal const int SigInt = 2;
    internal const int SigUsr1 = 10;
    internal const int SigUsr2 = 12;
    internal const int SigPipe = 13;
    internal const int SigTerm = 15;
    internal static readonly nint SigDfl = 0;
    internal static readonly nint SigIgn = 1;

    internal const int EBadF = 9;
    internal const int ENotSock = 88;
    internal const int EIntr = 4;

    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    internal static partial int Fcntl(int fd, int cmd, int arg);

    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    internal static partial nint Write(int fd, byte* buffer, nint count);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    internal static partial int Close(int fd);

    [LibraryImport("libc", EntryPoint = "getsockopt", SetLastError = true)]
    internal static partial int GetSockOpt(int fd, int level, int name, void* value, ref uint length);

    [LibraryImport("libc", EntryPoint = "setsockopt", SetLastError = true)]
    internal static partial int SetSockOpt(int fd, int level, int name, void* value, uint length);

    [LibraryImport("libc", EntryPoint = "recvmsg", SetLastError = true)]
    internal static partial nint RecvMsg(int fd, MsgHdr* message, int flags);

    [LibraryImport("libc", EntryPoint = "sendmsg", SetLastError = true)]
    internal static partial nint SendMsg(int fd, MsgHdr* message, int flags);

    [LibraryImport("libc", EntryPoint = "splice", SetLastError = true)]
    internal static partial nint Splice(int fdIn, long* offIn, int fdOut, long* offOut, nuint length, uint flags);

    [LibraryImport("libc", EntryPoint = "pipe2", SetLastError = true)]
    internal static partial int Pipe2(int* fds, int flags);

    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    internal static partial nint Read(int fd, byte* buffer, nint count);

    [LibraryImport("libc", EntryPoint = "recv", SetLastError = true)]
    internal static partial nint Recv(int fd, byte* buffer, nint length, int flags);

    [LibraryImport("libc", EntryPoint = "send", SetLastError = true)]
    internal static partial nint Send(int fd, byte* buffer, nint length, int flags);

    [LibraryImport("libc", EntryPoint = "connect", SetLastError = true)]
    internal static partial int Connect(int fd, byte* address, int length);

    [LibraryImport("libc", EntryPoint = "socket", SetLastError = true)]
    internal static partial int Socket(int domain, int type, int protocol);

    [LibraryImport("libc", EntryPoint = "readlink", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial nint ReadLink(string path, byte* buffer, nint size);

    [LibraryImport("libc", EntryPoint = "sched_yield")]
    internal static partial int SchedYield();

    [LibraryImport("libc", EntryPoint = "signal")]
    internal static partial nint Signal(int signal, nint handler);

    /// <summary>Whether fd is open in this process (fcntl F_GETFD does not fail with EBADF).</summary>
    internal static bool IsOpen(int fd) => Fcntl(fd, FGetFd, 0) >= 0;

    /// <summary>getsockopt for an int-sized option; null when fd is not a socket or the call fails.</summary>
    internal static int? GetIntOption(int fd, int level, int name)
    {
        int value = 0;
        uint length = sizeof(int);
        return GetSockOpt(fd, level, name, &value, ref length) == 0 ? value : null;
    }

    /// <summary>setsockopt for an int-sized option; false when it fails.</summary>
    internal static bool SetIntOption(int fd, int level, int name, int value) =>
        SetSockOpt(fd, level, name, &value, sizeof(int)) == 0;

    /// <summary>Sets FD_CLOEXEC on fd if it is open; a closed fd is left alone.</summary>
    internal static void SetCloseOnExec(int fd)
    {
        int flags = Fcntl(fd, FGetFd, 0);
        if (flags >= 0)
        {
            _ = Fcntl(fd, FSetFd, flags | FdCloExec);
        }
    }

    /// <summary>Where /proc/self/fd/N points ("pipe:[..]", "socket:[..]", "/dev/null"), or null.</summary>
    internal static string? FdTarget(int fd)
    {
        byte* buffer = stackalloc byte[256];
        nint n = ReadLink("/proc/self/fd/" + fd.ToString(System.Globalization.CultureInfo.InvariantCulture), buffer, 256);
        return n <= 0 ? null : System.Text.Encoding.UTF8.GetString(buffer, (int)n);
    }
}
