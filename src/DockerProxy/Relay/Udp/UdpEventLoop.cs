using System.Net.Sockets;
using System.Runtime.InteropServices;
using DockerProxy.Metrics;
using DockerProxy.Native;
using DockerProxy.Relay.Loop;

namespace DockerProxy.Relay.Udp;

/// <summary>
/// Something the UDP event loop watches: a relay's listening socket or a session's backend socket.
/// </summary>
internal abstract class LoopMember
{
    /// <summary>The epoll token (slot and generation); set by <see cref="UdpEventLoop.Add"/>.</summary>
    internal ulong Token { get; set; }

    /// <summary>The socket is readable (or has an error to report). Runs on the loop's thread.</summary>
    internal abstract void OnReadable(UdpEventLoop loop);

    /// <summary>An exception escaped <see cref="OnReadable"/>: report it; the loop goes on.</summary>
    internal abstract void OnFault(Exception error);
}

/// <summary>
/// One thread, one epoll set, for every UDP socket of the process: the listeners of all UDP relays
/// (with -map, thousands) and the backend sockets of all their sessions. A readable listener is read
/// with recvmmsg(2), up to <see cref="ReceiveBatch"/> datagrams a call; a readable session gives one
/// reply, queued; the replies of one wake-up leave together with sendmmsg(2), each from the address
/// its client sent to. Compared with an asynchronous receive per socket, that is about half the
/// syscalls per request under load, no state machine per session, and no buffer per session.
///
/// Invariants: level-triggered, so nothing is lost when a wake-up takes only part of what is
/// waiting; a token carries a generation, so an event for a socket removed meanwhile (by the
/// sweeper, on another thread) is ignored; every syscall on a socket holds its SafeHandle
/// (<see cref="FdLease"/>), so a concurrent close never lets the fd be reused under the call.
/// The buffers are native and allocated once, untouched until used: an idle loop costs its stack.
/// </summary>
internal sealed unsafe class UdpEventLoop
{
    /// <summary>Datagrams one recvmmsg call can take from a listener.</summary>
    internal const int ReceiveBatch = 16;

    private const int MaxEvents = 64;
    private const int SlotBytes = 65536; // every legal datagram fits: none is truncated
    private const int NameBytes = 32; // sockaddr_in6 is 28
    private const int ControlBytes = 64;
    private const int MaxReplies = 64;
    private const int ReplyArenaBytes = 256 * 1024;

    private static long s_busyPollTicks = BusyPollWait.ToStopwatchTicks(UdpRelayOptions.DefaultBusyPoll);

    private static readonly Lazy<UdpEventLoop> s_shared = new(() => new UdpEventLoop(), LazyThreadSafetyMode.ExecutionAndPublication);

    private readonly int _epoll;
    private readonly LoopSlots<LoopMember> _slots = new();

    // Listener side: ReceiveBatch slots of SlotBytes, with their names and control messages.
    private readonly byte* _rxArena;
    private readonly MMsgHdr* _rxMessages;
    private readonly IoVec* _rxIov;
    private readonly byte* _rxNames;
    private readonly byte* _rxControl;

    // Reply side: replies packed into one arena, sent by sendmmsg per listener at the end of a wake-up.
    private readonly byte* _txArena;
    private readonly MMsgHdr* _txMessages;
    private readonly IoVec* _txIov;
    private readonly byte* _txNames;
    private readonly byte* _txControl;
    private readonly UdpRelay?[] _txRelays = new UdpRelay?[MaxReplies];
    private readonly UdpEndpoint[] _txClients = new UdpEndpoint[MaxReplies];
    private int _txCount;
    private BusyPollWait _poll;
    private int _txUsed;

    private UdpEventLoop()
    {
        _epoll = Epoll.Create(Libc.OCloExec); // EPOLL_CLOEXEC is O_CLOEXEC
        if (_epoll < 0)
        {
            throw new SocketException(Marshal.GetLastPInvokeError());
        }

        _rxArena = (byte*)NativeMemory.Alloc((nuint)ReceiveBatch * SlotBytes);
        _rxMessages = (MMsgHdr*)NativeMemory.AllocZeroed((nuint)(ReceiveBatch * sizeof(MMsgHdr)));
        _rxIov = (IoVec*)NativeMemory.AllocZeroed((nuint)(ReceiveBatch * sizeof(IoVec)));
        _rxNames = (byte*)NativeMemory.AllocZeroed(ReceiveBatch * NameBytes);
        _rxControl = (byte*)NativeMemory.AllocZeroed(ReceiveBatch * ControlBytes);
        for (int i = 0; i < ReceiveBatch; i++)
        {
            _rxIov[i] = new IoVec { Base = _rxArena + ((long)i * SlotBytes), Length = SlotBytes };
            _rxMessages[i].Header.Iov = &_rxIov[i];
            _rxMessages[i].Header.IovLength = 1;
        }

        _txArena = (byte*)NativeMemory.Alloc(ReplyArenaBytes);
        _txMessages = (MMsgHdr*)NativeMemory.AllocZeroed((nuint)(MaxReplies * sizeof(MMsgHdr)));
        _txIov = (IoVec*)NativeMemory.AllocZeroed((nuint)(MaxReplies * sizeof(IoVec)));
        _txNames = (byte*)NativeMemory.AllocZeroed(MaxReplies * NameBytes);
        _txControl = (byte*)NativeMemory.AllocZeroed(MaxReplies * ControlBytes);

        // A small stack: the loop's frames are shallow and its buffers are native.
        var thread = new Thread(Run, 256 * 1024) { IsBackground = true, Name = "udp-loop" };
        thread.Start();
    }

    /// <summary>After traffic, how long the loop polls before it sleeps (-udp-busy-poll); zero: never.</summary>
    internal static TimeSpan BusyPoll
    {
        set => Volatile.Write(ref s_busyPollTicks, BusyPollWait.ToStopwatchTicks(value));
    }

    /// <summary>The process's loop, started on first use.</summary>
    internal static UdpEventLoop Shared => s_shared.Value;

    /// <summary>Watches socket for member; 0, or the errno (e.g. ENOSPC past max_user_watches).</summary>
    internal int Add(LoopMember member, Socket socket)
    {
        ulong token = _slots.Add(member);
        member.Token = token;

        int error;
        using (var lease = new FdLease(socket))
        {
            error = lease.Fd < 0 ? Libc.EBadF : Epoll.Add(_epoll, lease.Fd, token);
        }

        if (error != 0)
        {
            _slots.Remove(member, member.Token);
        }

        return error;
    }

    /// <summary>Stops watching socket for member (before the socket is closed). Any thread.</summary>
    internal void Remove(LoopMember member, Socket socket)
    {
        using (var lease = new FdLease(socket))
        {
            if (lease.Fd >= 0)
            {
                Epoll.Remove(_epoll, lease.Fd);
            }
        }

        _slots.Remove(member, member.Token);
    }

    private void Run()
    {
        byte* events = stackalloc byte[MaxEvents * 16];
        var ready = new LoopMember?[MaxEvents];
        while (true)
        {
            int count = _slots.Next(ref _poll, _epoll, events, ready, Volatile.Read(ref s_busyPollTicks));
            for (int i = 0; i < count; i++)
            {
                LoopMember? member = ready[i];
                ready[i] = null;
                if (member is null)
                {
                    continue; // removed since the kernel reported it
                }

                try
                {
                    member.OnReadable(this);
                }
                catch (Exception error)
                {
                    Report(member, error);
                }
            }

            FlushReplies();
        }
    }

    private static void Report(LoopMember member, Exception error)
    {
        try
        {
            member.OnFault(error);
        }
        catch
        {
            // Reporting failed too: nothing more to do here; the loop must go on.
        }
    }

    /// <summary>
    /// Takes up to <see cref="ReceiveBatch"/> datagrams from a listener: their count, -1 when none
    /// was waiting, -2 after an error that concerns no datagram of this call (a queued ICMP error),
    /// -3 when the socket is closed. Read them with <see cref="Received"/> until the next call.
    /// </summary>
    internal int ReceiveFrom(Socket listener)
    {
        for (int i = 0; i < ReceiveBatch; i++)
        {
            ref MsgHdr header = ref _rxMessages[i].Header;
            header.Name = _rxNames + (i * NameBytes);
            header.NameLength = NameBytes;
            header.Control = _rxControl + (i * ControlBytes);
            header.ControlLength = ControlBytes;
            header.Flags = 0;
        }

        using var lease = new FdLease(listener);
        if (lease.Fd < 0)
        {
            return DatagramIo.Closed;
        }

        int received = Epoll.RecvMMsg(lease.Fd, _rxMessages, ReceiveBatch, Libc.MsgDontWait, null);
        if (received >= 0)
        {
            return received;
        }

        int errno = Marshal.GetLastPInvokeError();
        return errno switch
        {
            Libc.EAgain => DatagramIo.WouldBlock,
            Libc.EBadF => DatagramIo.Closed,
            _ => DatagramIo.Transient,
        };
    }

    /// <summary>Datagram <paramref name="index"/> of the last <see cref="ReceiveFrom"/>: its bytes,
    /// its sender, and the local address it was sent to.</summary>
    internal ReadOnlySpan<byte> Received(int index, out UdpEndpoint client, out UdpEndpoint local)
    {
        ref MMsgHdr message = ref _rxMessages[index];
        client = UdpEndpoint.FromSockaddr(new ReadOnlySpan<byte>(message.Header.Name, (int)message.Header.NameLength));
        local = UdpListener.ReadPacketInfo((byte*)message.Header.Control, (int)message.Header.ControlLength);
        return new ReadOnlySpan<byte>(_rxIov[index].Base, (int)message.Length);
    }

    /// <summary>
    /// Receives one reply from a session's socket straight into the reply batch and queues it to
    /// client from local (through relay's listener). Returns its length, or a
    /// <see cref="DatagramIo"/> code (nothing queued).
    /// </summary>
    internal int ReceiveReply(Socket backend, UdpRelay relay, in UdpEndpoint client, in UdpEndpoint local)
    {
        if (_txCount == MaxReplies || ReplyArenaBytes - _txUsed < SlotBytes)
        {
            FlushReplies();
        }

        byte* data = _txArena + _txUsed;
        int length = DatagramIo.TryReceive(backend, new Span<byte>(data, SlotBytes));
        if (length < 0)
        {
            return length;
        }

        int index = _txCount++;
        _txUsed += (length + 15) & ~15;
        _txIov[index] = new IoVec { Base = data, Length = (nuint)length };
        byte* name = _txNames + (index * NameBytes);
        byte* control = _txControl + (index * ControlBytes);
        ref MsgHdr header = ref _txMessages[index].Header;
        header.Name = name;
        header.NameLength = (uint)client.WriteSockaddr(new Span<byte>(name, NameBytes));
        header.Iov = &_txIov[index];
        header.IovLength = 1;
        int controlLength = local.IsEmpty || local.IsMulticastOrBroadcast ? 0 : UdpListener.WritePacketInfo(control, local);
        header.Control = controlLength == 0 ? null : control;
        header.ControlLength = (nuint)controlLength;
        header.Flags = 0;
        _txRelays[index] = relay;
        _txClients[index] = client;
        return length;
    }

    /// <summary>Sends the queued replies: one sendmmsg per run of replies through the same listener.</summary>
    private void FlushReplies()
    {
        int start = 0;
        while (start < _txCount)
        {
            UdpRelay relay = _txRelays[start]!;
            int end = start + 1;
            while (end < _txCount && ReferenceEquals(_txRelays[end], relay))
            {
                end++;
            }

            Send(relay, start, end);
            start = end;
        }

        Array.Clear(_txRelays, 0, _txCount);
        _txCount = 0;
        _txUsed = 0;
    }

    private void Send(UdpRelay relay, int start, int end)
    {
        using var lease = new FdLease(relay.ListenerSocket);
        while (start < end)
        {
            int sent = lease.Fd < 0 ? -1 : Epoll.SendMMsg(lease.Fd, _txMessages + start, (uint)(end - start), Libc.MsgDontWait);
            int errno = sent < 0 ? (lease.Fd < 0 ? Libc.EBadF : Marshal.GetLastPInvokeError()) : 0;
            if (sent < 0)
            {
                if (errno == Libc.EIntr)
                {
                    continue;
                }

                // The first of them failed: report it, go on with the next.
                relay.ReplyDropped(_txClients[start], errno);
                start++;
                continue;
            }

            for (int i = start; i < start + sent; i++)
            {
                ProxyMetrics.BytesToClient.Add((long)_txIov[i].Length);
            }

            start += sent;
        }
    }
}
