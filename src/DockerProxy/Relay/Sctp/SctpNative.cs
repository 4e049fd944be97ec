using System.Net.Sockets;
using System.Runtime.InteropServices;
using DockerProxy.Native;

namespace DockerProxy.Relay.Sctp;

/// <summary>
/// The SCTP socket API that .NET lacks (RFC 6458 as Linux implements it, linux/sctp.h): socket
/// options by number, and recvmsg/sendmsg carrying each message's stream id, PPID and flags in an
/// SCTP_SNDRCV control message. Linux x86-64 and arm64 layouts.
/// </summary>
internal static unsafe class SctpNative
{
    internal const int SolSctp = Libc.IpProtoSctp; // the option level is the protocol number
    internal const int SctpInitMsgOption = 2;
    internal const int SctpNoDelay = 3;
    internal const int SctpDefaultSendParam = 10;
    internal const int SctpEvents = 11;
    internal const int SctpStatusOption = 14;
    internal const int SctpSndRcv = 1; // control message type: struct sctp_sndrcvinfo

    /// <summary>sinfo_flags: the message was (or is to be) delivered unordered.</summary>
    internal const ushort SctpUnordered = 1;

    internal const int MsgEor = 0x80;
    internal const int MsgNoSignal = 0x4000;
    internal const int MsgNotification = 0x8000;
    internal const int SockCloExec = 0x80000;
    internal const int Ipv6V6Only = 26;
    internal const int ENotConn = 107;

    // struct cmsghdr (16 bytes on 64-bit) followed by struct sctp_sndrcvinfo (32 bytes).
    private const int CmsgHeaderSize = 16;
    private const int ControlSize = CmsgHeaderSize + 32;

    /// <summary>A new SCTP socket, one-to-one style (SOCK_STREAM), as a .NET socket; errno on failure.</summary>
    internal static Socket? Create(AddressFamily family, out int errno)
    {
        int domain = family == AddressFamily.InterNetworkV6 ? Libc.AfInet6 : Libc.AfInet;
        int fd = Libc.Socket(domain, Libc.SockStream | SockCloExec, Libc.IpProtoSctp);
        if (fd < 0)
        {
            errno = Marshal.GetLastPInvokeError();
            return null;
        }

        errno = 0;
        // .NET refuses to create a socket of protocol 132 itself, but wraps one made by socket(2).
        return new Socket(new SafeSocketHandle(fd, ownsHandle: true));
    }

    /// <summary>
    /// Streams to ask for when the association is set up: outbound, and at most inbound (0 keeps the
    /// kernel's default).
    /// </summary>
    internal static bool SetInitMsg(Socket socket, ushort outbound, ushort maxInbound)
    {
        SctpInitMsg init = new() { NumOutStreams = outbound, MaxInStreams = maxInbound };
        using var lease = new FdLease(socket);
        return lease.Fd >= 0 && Libc.SetSockOpt(lease.Fd, SolSctp, SctpInitMsgOption, &init, (uint)sizeof(SctpInitMsg)) == 0;
    }

    /// <summary>
    /// Subscribes to the sctp_data_io_event only (the first byte of struct sctp_event_subscribe):
    /// every received message then carries its SCTP_SNDRCV information; no notifications.
    /// </summary>
    internal static bool EnableReceiveInfo(Socket socket)
    {
        byte dataIoEvent = 1;
        using var lease = new FdLease(socket);
        return lease.Fd >= 0 && Libc.SetSockOpt(lease.Fd, SolSctp, SctpEvents, &dataIoEvent, 1) == 0;
    }

    internal static bool SetIntOption(Socket socket, int level, int name, int value)
    {
        using var lease = new FdLease(socket);
        return lease.Fd >= 0 && Libc.SetIntOption(lease.Fd, level, name, value);
    }

    /// <summary>The association's negotiated stream counts (SCTP_STATUS), or null.</summary>
    internal static (ushort Inbound, ushort Outbound)? StreamCounts(Socket socket)
    {
        // struct sctp_status is 176 bytes; the kernel wants at least that much room.
        byte* status = stackalloc byte[256];
        new Span<byte>(status, 256).Clear();
        uint length = 256;
        using var lease = new FdLease(socket);
        if (lease.Fd < 0 || Libc.GetSockOpt(lease.Fd, SolSctp, SctpStatusOption, status, ref length) != 0)
        {
            return null;
        }

        // sstat_instrms at offset 16, sstat_outstrms at 18.
        return (*(ushort*)(status + 16), *(ushort*)(status + 18));
    }

    /// <summary>
    /// Makes <paramref name="info"/> what a plain send(2) on this association carries
    /// (SCTP_DEFAULT_SEND_PARAM), for sends that go through the socket engine.
    /// </summary>
    internal static bool SetDefaultSend(Socket socket, in SctpMessageInfo info)
    {
        SctpSndRcvInfo send = ToSend(info);
        using var lease = new FdLease(socket);
        return lease.Fd >= 0 && Libc.SetSockOpt(lease.Fd, SolSctp, SctpDefaultSendParam, &send, (uint)sizeof(SctpSndRcvInfo)) == 0;
    }

    /// <summary>
    /// One non-blocking recvmsg(2): the bytes read (0 at the end of the association), or -1 with
    /// errno. <paramref name="info"/> is set when the kernel attached SCTP_SNDRCV information.
    /// </summary>
    internal static nint Receive(Socket socket, Span<byte> buffer, out SctpMessageInfo? info, out int flags, out int errno)
    {
        info = null;
        flags = 0;
        byte* control = stackalloc byte[ControlSize + 16];
        using var lease = new FdLease(socket);
        if (lease.Fd < 0)
        {
            errno = Libc.EBadF;
            return -1;
        }

        fixed (byte* data = buffer)
        {
            IoVec iov = new() { Base = data, Length = (nuint)buffer.Length };
            MsgHdr message = new() { Iov = &iov, IovLength = 1, Control = control, ControlLength = ControlSize + 16 };
            nint n = Libc.RecvMsg(lease.Fd, &message, Libc.MsgDontWait);
            if (n < 0)
            {
                errno = Marshal.GetLastPInvokeError();
                return -1;
            }

            errno = 0;
            flags = message.Flags;
            info = FindSndRcv(control, (int)message.ControlLength);
            return n;
        }
    }

    /// <summary>
    /// One non-blocking sendmsg(2) of a whole message with its stream id, PPID and unordered flag:
    /// SCTP queues all of it or nothing. The bytes sent, or -1 with errno (EAGAIN: no room now).
    /// </summary>
    internal static nint Send(Socket socket, ReadOnlySpan<byte> message, in SctpMessageInfo info, out int errno)
    {
        byte* control = stackalloc byte[ControlSize];
        *(nuint*)control = ControlSize;          // cmsg_len
        *(int*)(control + 8) = SolSctp;          // cmsg_level
        *(int*)(control + 12) = SctpSndRcv;      // cmsg_type
        *(SctpSndRcvInfo*)(control + CmsgHeaderSize) = ToSend(info);
        using var lease = new FdLease(socket);
        if (lease.Fd < 0)
        {
            errno = Libc.EBadF;
            return -1;
        }

        fixed (byte* data = message)
        {
            IoVec iov = new() { Base = data, Length = (nuint)message.Length };
            MsgHdr header = new() { Iov = &iov, IovLength = 1, Control = control, ControlLength = ControlSize };
            nint n = Libc.SendMsg(lease.Fd, &header, Libc.MsgDontWait | MsgNoSignal);
            errno = n < 0 ? Marshal.GetLastPInvokeError() : 0;
            return n;
        }
    }

    private static SctpSndRcvInfo ToSend(in SctpMessageInfo info) => new()
    {
        Stream = info.Stream,
        Flags = (ushort)(info.Flags & SctpUnordered), // only what a sender may ask for
        Ppid = info.Ppid,
    };

    private static SctpMessageInfo? FindSndRcv(byte* control, int length)
    {
        int offset = 0;
        while (offset + CmsgHeaderSize <= length)
        {
            int cmsgLength = (int)*(nuint*)(control + offset);
            if (cmsgLength < CmsgHeaderSize || offset + cmsgLength > length)
            {
                break;
            }

            if (*(int*)(control + offset + 8) == SolSctp && *(int*)(control + offset + 12) == SctpSndRcv &&
                cmsgLength >= ControlSize)
            {
                SctpSndRcvInfo* received = (SctpSndRcvInfo*)(control + offset + CmsgHeaderSize);
                return new SctpMessageInfo(received->Stream, received->Ppid, received->Flags);
            }

            offset += (cmsgLength + 7) & ~7;
        }

        return null;
    }

    /// <summary>struct sctp_initmsg.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct SctpInitMsg
    {
        public ushort NumOutStreams;
        public ushort MaxInStreams;
        public ushort MaxAttempts;
        public ushort MaxInitTimeout;
    }

    /// <summary>struct sctp_sndrcvinfo (32 bytes: the PPID is 4-aligned after three shorts).</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct SctpSndRcvInfo
    {
        public ushort Stream;
        public ushort Ssn;
        public ushort Flags;
        public uint Ppid;
        public uint Context;
        public uint TimeToLive;
        public uint Tsn;
        public uint CumulativeTsn;
        public int AssociationId;
    }
}
