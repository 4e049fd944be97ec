using System.Runtime.InteropServices;

namespace LoadGen;

/// <summary>IPv4 socket address (struct sockaddr_in): port and address in network byte order.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct SockAddrIn
{
    public ushort Family;
    public ushort Port;
    public uint Address;
    public ulong Zero;
}

/// <summary>struct pollfd.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct PollFd
{
    public int Fd;
    public short Events;
    public short Revents;
}

/// <summary>struct timeval.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct TimeVal
{
    public long Seconds;
    public long Microseconds;
}

/// <summary>The few libc calls the generator makes: plain sockets, nothing between it and the kernel.</summary>
internal static unsafe partial class Libc
{
    internal const int AfInet = 2;
    internal const int SockStream = 1;
    internal const int SockDgram = 2;
    internal const int SockNonBlock = 0x800;
    internal const int SockCloExec = 0x80000;
    internal const int SolSocket = 1;
    internal const int SoReuseAddr = 2;
    internal const int SoSndBuf = 7;
    internal const int SoRcvBuf = 8;
    internal const int SoRcvTimeo = 20;
    internal const int SoSndTimeo = 21;
    internal const int SoSndBufForce = 32;
    internal const int SoRcvBufForce = 33;
    internal const int IpProtoTcp = 6;
    internal const int TcpNoDelay = 1;
    internal const int MsgDontWait = 0x40;
    internal const int MsgNoSignal = 0x4000;
    internal const int ShutWr = 1;
    internal const short PollIn = 0x1;
    internal const short PollErr = 0x8;
    internal const int EIntr = 4;
    internal const int EAgain = 11;
    internal const int EInProgress = 115;

    [LibraryImport("libc", EntryPoint = "socket", SetLastError = true)]
    internal static partial int Socket(int domain, int type, int protocol);

    [LibraryImport("libc", EntryPoint = "bind", SetLastError = true)]
    internal static partial int Bind(int fd, SockAddrIn* address, int length);

    [LibraryImport("libc", EntryPoint = "listen", SetLastError = true)]
    internal static partial int Listen(int fd, int backlog);

    [LibraryImport("libc", EntryPoint = "accept4", SetLastError = true)]
    internal static partial int Accept4(int fd, void* address, void* length, int flags);

    [LibraryImport("libc", EntryPoint = "connect", SetLastError = true)]
    internal static partial int Connect(int fd, SockAddrIn* address, int length);

    [LibraryImport("libc", EntryPoint = "recv", SetLastError = true)]
    internal static partial nint Recv(int fd, byte* buffer, nuint length, int flags);

    [LibraryImport("libc", EntryPoint = "send", SetLastError = true)]
    internal static partial nint Send(int fd, byte* buffer, nuint length, int flags);

    [LibraryImport("libc", EntryPoint = "recvfrom", SetLastError = true)]
    internal static partial nint RecvFrom(int fd, byte* buffer, nuint length, int flags, SockAddrIn* address, int* addressLength);

    [LibraryImport("libc", EntryPoint = "sendto", SetLastError = true)]
    internal static partial nint SendTo(int fd, byte* buffer, nuint length, int flags, SockAddrIn* address, int addressLength);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    internal static partial int Close(int fd);

    [LibraryImport("libc", EntryPoint = "shutdown", SetLastError = true)]
    internal static partial int Shutdown(int fd, int how);

    [LibraryImport("libc", EntryPoint = "setsockopt", SetLastError = true)]
    internal static partial int SetSockOpt(int fd, int level, int name, void* value, int length);

    [LibraryImport("libc", EntryPoint = "getsockopt", SetLastError = true)]
    internal static partial int GetSockOpt(int fd, int level, int name, void* value, int* length);

    [LibraryImport("libc", EntryPoint = "getsockname", SetLastError = true)]
    internal static partial int GetSockName(int fd, SockAddrIn* address, int* length);

    [LibraryImport("libc", EntryPoint = "poll", SetLastError = true)]
    internal static partial int Poll(PollFd* fds, nuint count, int timeoutMs);

    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    internal static partial nint Read(int fd, byte* buffer, nuint length);

    [LibraryImport("libc", EntryPoint = "strerror")]
    internal static partial byte* StrError(int errno);

    internal static string Describe(int errno) => Marshal.PtrToStringUTF8((nint)StrError(errno)) ?? $"errno {errno}";
}
