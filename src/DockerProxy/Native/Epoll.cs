using System.Runtime.InteropServices;

namespace DockerProxy.Native;

/// <summary>
/// epoll(7) and the batched datagram calls (recvmmsg(2), sendmmsg(2)) for the event loops: the
/// .NET socket engine has no way to take or send several datagrams in one call, nor to wait for
/// many sockets without an asynchronous operation (and its bookkeeping) per socket, nor to poll
/// for a while before it sleeps.
/// </summary>
internal static unsafe partial class Epoll
{
    internal const int CtlAdd = 1;
    internal const int CtlDel = 2;
    internal const uint In = 0x001;

    /// <summary>struct epoll_event is packed on x86-64 (12 bytes, data at 4) and naturally aligned
    /// elsewhere (16 bytes, data at 8).</summary>
    internal static readonly int EventSize = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 12 : 16;

    private static readonly int DataOffset = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 4 : 8;

    [LibraryImport("libc", EntryPoint = "epoll_create1", SetLastError = true)]
    internal static partial int Create(int flags);

    [LibraryImport("libc", EntryPoint = "epoll_ctl", SetLastError = true)]
    private static partial int Ctl(int epfd, int op, int fd, byte* ev);

    [LibraryImport("libc", EntryPoint = "epoll_wait", SetLastError = true)]
    internal static partial int Wait(int epfd, byte* events, int maxEvents, int timeout);

    [LibraryImport("libc", EntryPoint = "recvmmsg", SetLastError = true)]
    internal static partial int RecvMMsg(int fd, MMsgHdr* messages, uint count, int flags, void* timeout);

    [LibraryImport("libc", EntryPoint = "sendmmsg", SetLastError = true)]
    internal static partial int SendMMsg(int fd, MMsgHdr* messages, uint count, int flags);

    internal const uint Out = 0x004;
    internal const uint Err = 0x008;
    internal const uint Hup = 0x010;
    internal const uint RdHup = 0x2000;
    internal const uint EdgeTriggered = 0x80000000;

    /// <summary>Adds fd for <paramref name="interest"/> (input readiness, level-triggered, unless
    /// told otherwise) with the given token; 0 or the errno.</summary>
    internal static int Add(int epfd, int fd, ulong token, uint interest = In)
    {
        byte* ev = stackalloc byte[16];
        *(uint*)ev = interest;
        *(ulong*)(ev + DataOffset) = token;
        return Ctl(epfd, CtlAdd, fd, ev) == 0 ? 0 : Marshal.GetLastPInvokeError();
    }

    internal static void Remove(int epfd, int fd)
    {
        byte* ev = stackalloc byte[16];
        _ = Ctl(epfd, CtlDel, fd, ev);
    }

    internal static uint EventsAt(byte* events, int index) => *(uint*)(events + (index * EventSize));

    internal static ulong TokenAt(byte* events, int index) => *(ulong*)(events + (index * EventSize) + DataOffset);
}

/// <summary>struct mmsghdr: a message header and the byte count the kernel fills in.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct MMsgHdr
{
    public MsgHdr Header;
    public uint Length;
}
