using DockerProxy.Native;
using DockerProxy.Relay.Loop;

namespace DockerProxy.Relay.Tcp;

/// <summary>
/// One thread, one epoll set, for the listeners and connected sockets of every TCP relay of the
/// process in the splice copy mode. Each socket is registered once,
/// edge-triggered, for input and output; an event completes the wait of the direction that reads
/// or writes it, and the direction's continuation runs here, inline. After traffic the thread
/// polls before it sleeps (<see cref="BusyPollWait"/>): the socket engine's thread always sleeps
/// in epoll_wait, and on a machine whose cores are shared by the client, the backend and the
/// proxy, being woken for every event is what kept a stream through the proxy behind the
/// original's (Go's scheduler spins before it sleeps). Sockets are closed, not removed: closing a
/// socket takes it out of the epoll set, and the token's generation makes any event already
/// queued for it resolve to nothing.
/// </summary>
internal sealed unsafe class TcpEventLoop
{
    internal const uint InputEvents = Epoll.In | Epoll.RdHup | Epoll.Hup | Epoll.Err;
    internal const uint OutputEvents = Epoll.Out | Epoll.Hup | Epoll.Err;

    private const int MaxEvents = 64;

    private static long s_busyPollTicks = BusyPollWait.ToStopwatchTicks(TcpRelayOptions.DefaultBusyPoll);

    private static readonly object s_creation = new();
    private static TcpEventLoop? s_shared;

    private readonly int _epoll;
    private readonly LoopSlots<PolledSocket> _slots = new();
    private BusyPollWait _poll;
    private int _started;

    private TcpEventLoop(int epoll)
    {
        _epoll = epoll;
    }

    /// <summary>After traffic, how long the loop polls before it sleeps; zero: never.</summary>
    internal static TimeSpan BusyPoll
    {
        set => Volatile.Write(ref s_busyPollTicks, BusyPollWait.ToStopwatchTicks(value));
    }

    /// <summary>
    /// The process's loop: its epoll set is made by the first TCP relay in the splice mode (so a
    /// connection never needs an fd for it), its thread by the first socket it watches (the
    /// relay's listener). Null while the set cannot be made (no fd left): connections then go
    /// through the Pipelines copy on the socket engine, and a later one tries again.
    /// </summary>
    internal static TcpEventLoop? TryShared()
    {
        TcpEventLoop? loop = Volatile.Read(ref s_shared);
        if (loop is not null)
        {
            return loop;
        }

        lock (s_creation)
        {
            if (s_shared is null)
            {
                int epoll = Epoll.Create(Libc.OCloExec); // EPOLL_CLOEXEC is O_CLOEXEC
                if (epoll < 0)
                {
                    return null;
                }

                Volatile.Write(ref s_shared, new TcpEventLoop(epoll));
            }

            return s_shared;
        }
    }

    /// <summary>Watches a non-blocking socket (a listener, a connected or connecting one); 0, or the errno.</summary>
    internal int Add(PolledSocket member)
    {
        if (Volatile.Read(ref _started) == 0 && Interlocked.Exchange(ref _started, 1) == 0)
        {
            // A small stack: the continuations it runs are the relay's, shallow, with no buffers on it.
            var thread = new Thread(Run, 256 * 1024) { IsBackground = true, Name = "tcp-loop" };
            thread.Start();
        }

        ulong token = _slots.Add(member);
        member.Token = token;
        int error;
        using (var lease = new FdLease(member.Socket))
        {
            error = lease.Fd < 0 ? Libc.EBadF : Epoll.Add(_epoll, lease.Fd, token, Epoll.In | Epoll.Out | Epoll.RdHup | Epoll.EdgeTriggered);
        }

        if (error != 0)
        {
            _slots.Remove(member, token);
        }

        return error;
    }

    /// <summary>Forgets member: its waits end with false. Its socket is closed by the caller.</summary>
    internal void Remove(PolledSocket member)
    {
        member.Close();
        _slots.Remove(member, member.Token);
    }

    private void Run()
    {
        byte* events = stackalloc byte[MaxEvents * 16];
        var ready = new PolledSocket?[MaxEvents];
        while (true)
        {
            int count = _slots.Next(ref _poll, _epoll, events, ready, Volatile.Read(ref s_busyPollTicks));
            for (int i = 0; i < count; i++)
            {
                PolledSocket? member = ready[i];
                ready[i] = null;
                try
                {
                    member?.OnEvents(Epoll.EventsAt(events, i)); // null: closed since the kernel reported it
                }
                catch (Exception e)
                {
                    // A continuation's own exceptions end in its task; this would be a defect of
                    // the loop's bookkeeping. The loop must go on: report it and carry on.
                    Logging.Log.ConnectionFailed(member!.Logger, e);
                }
            }
        }
    }
}
