using System.Buffers.Binary;
using System.Diagnostics;
using System.Runtime.InteropServices;

namespace LoadGen;

/// <summary>
/// Closed-loop UDP clients: each client is a socket connected to the target (its own source
/// port, so its own proxy session) with at most one request outstanding. A request without a
/// reply for <see cref="ResendMs"/> counts as lost and the client sends a new one.
/// </summary>
internal static unsafe class Udp
{
    internal const int ResendMs = 200;

    /// <summary>
    /// CLIENTS clients driven by THREADS threads: with one client per thread, blocking send and
    /// recv (SO_RCVTIMEO bounds the wait); with several, non-blocking sockets and poll(2).
    /// </summary>
    public static int RequestResponse(int port, int clients, int threads, int size, double warmup, double seconds, int watchPid)
    {
        threads = Math.Clamp(threads, 1, clients);
        var fds = new int[clients];
        try
        {
            for (int i = 0; i < clients; i++)
            {
                fds[i] = Net.NewSocket(Libc.SockDgram | (threads < clients ? Libc.SockNonBlock : 0));
                Net.Connect(fds[i], port);
                if (threads == clients)
                {
                    var timeout = new TimeVal { Seconds = 0, Microseconds = ResendMs * 1000 };
                    _ = Libc.SetSockOpt(fds[i], Libc.SolSocket, Libc.SoRcvTimeo, &timeout, sizeof(TimeVal));
                }
            }
        }
        catch (NetException error)
        {
            new Report().Add("errors", 1).Add("first_error", error.Message).Write();
            return 1;
        }

        var window = new Window();
        int status = Workers.Run(window, threads, warmup, seconds, watchPid, (index, result) =>
        {
            // Thread INDEX drives clients INDEX, INDEX + THREADS, ...
            var mine = new List<int>();
            for (int c = index; c < clients; c += threads)
            {
                mine.Add(c);
            }

            if (threads == clients)
            {
                Blocking(window, fds[index], index, size, result);
            }
            else
            {
                Polled(window, mine.Select(c => fds[c]).ToArray(), mine.ToArray(), size, result);
            }
        });
        foreach (int fd in fds)
        {
            _ = Libc.Close(fd);
        }

        return status;
    }

    private static void Blocking(Window window, int fd, int client, int size, WorkerResult result)
    {
        byte[] request = Tcp.Pattern(size, client);
        byte[] reply = new byte[size + 64];
        long sequence = 0;
        fixed (byte* requestStart = request, replyStart = reply)
        {
            while (true)
            {
                BinaryPrimitives.WriteInt64LittleEndian(request, ++sequence);
                long sent = Stopwatch.GetTimestamp();
                if (Libc.Send(fd, requestStart, (nuint)size, Libc.MsgNoSignal) < 0 && !Transient(result, client))
                {
                    return;
                }

                bool answered = false;
                while (true)
                {
                    nint n = Libc.Recv(fd, replyStart, (nuint)reply.Length, 0);
                    if (n < 0)
                    {
                        int errno = Marshal.GetLastPInvokeError();
                        if (errno == Libc.EIntr)
                        {
                            continue;
                        }

                        if (errno == Libc.EAgain)
                        {
                            break; // timed out: lost
                        }

                        result.Fail($"client {client}: recv: {Libc.Describe(errno)}");
                        return;
                    }

                    if (n == size && BinaryPrimitives.ReadInt64LittleEndian(reply) != sequence)
                    {
                        result.Stale++; // a late reply to a request already given up
                        continue;
                    }

                    if (n != size || !reply.AsSpan(0, size).SequenceEqual(request))
                    {
                        result.WrongBytes++;
                        result.Fail($"client {client}: a {n}-byte reply differs from the {size}-byte request {sequence}");
                        return;
                    }

                    answered = true;
                    break;
                }

                long received = Stopwatch.GetTimestamp();
                int phase = window.Phase;
                if (phase == Window.Stopping)
                {
                    return;
                }

                if (phase == Window.Measuring)
                {
                    if (answered)
                    {
                        result.Record(Window.Nanoseconds(sent, received));
                    }
                    else
                    {
                        result.Lost++;
                    }
                }
            }
        }
    }

    private static void Polled(Window window, int[] fds, int[] clients, int size, WorkerResult result)
    {
        int count = fds.Length;
        var requests = new byte[count][];
        var sequences = new long[count];
        var sentAt = new long[count];
        var polls = new PollFd[count];
        byte[] reply = new byte[size + 64];
        long resendTicks = Stopwatch.Frequency * ResendMs / 1000;
        long checkTicks = Stopwatch.Frequency * 50 / 1000;
        for (int i = 0; i < count; i++)
        {
            requests[i] = Tcp.Pattern(size, clients[i]);
            polls[i] = new PollFd { Fd = fds[i], Events = Libc.PollIn };
            if (!SendNext(i))
            {
                return;
            }
        }

        long nextCheck = Stopwatch.GetTimestamp() + checkTicks;
        fixed (PollFd* pollStart = polls)
        fixed (byte* replyStart = reply)
        {
            while (window.Phase != Window.Stopping)
            {
                int ready = Libc.Poll(pollStart, (nuint)count, 20);
                if (ready < 0 && Marshal.GetLastPInvokeError() != Libc.EIntr)
                {
                    result.Fail($"poll: {Libc.Describe(Marshal.GetLastPInvokeError())}");
                    return;
                }

                long now = Stopwatch.GetTimestamp();
                int phase = window.Phase;
                for (int i = 0; ready > 0 && i < count; i++)
                {
                    if (polls[i].Revents == 0)
                    {
                        continue;
                    }

                    ready--;
                    polls[i].Revents = 0;
                    while (true)
                    {
                        nint n = Libc.Recv(fds[i], replyStart, (nuint)reply.Length, Libc.MsgDontWait);
                        if (n < 0)
                        {
                            int errno = Marshal.GetLastPInvokeError();
                            if (errno is Libc.EAgain or Libc.EIntr)
                            {
                                break;
                            }

                            result.Fail($"client {clients[i]}: recv: {Libc.Describe(errno)}");
                            return;
                        }

                        if (n == size && BinaryPrimitives.ReadInt64LittleEndian(reply) != sequences[i])
                        {
                            result.Stale++;
                            continue; // maybe the current reply is behind it
                        }

                        if (n != size || !reply.AsSpan(0, size).SequenceEqual(requests[i]))
                        {
                            result.WrongBytes++;
                            result.Fail($"client {clients[i]}: a {n}-byte reply differs from the {size}-byte request {sequences[i]}");
                            return;
                        }

                        if (phase == Window.Measuring)
                        {
                            result.Record(Window.Nanoseconds(sentAt[i], now));
                        }

                        if (!SendNext(i))
                        {
                            return;
                        }

                        break; // one request outstanding: nothing more can be queued for it
                    }
                }

                if (now >= nextCheck)
                {
                    nextCheck = now + checkTicks;
                    for (int i = 0; i < count; i++)
                    {
                        if (now - sentAt[i] >= resendTicks)
                        {
                            if (phase == Window.Measuring)
                            {
                                result.Lost++;
                            }

                            if (!SendNext(i))
                            {
                                return;
                            }
                        }
                    }
                }
            }
        }

        bool SendNext(int i)
        {
            BinaryPrimitives.WriteInt64LittleEndian(requests[i], ++sequences[i]);
            sentAt[i] = Stopwatch.GetTimestamp();
            fixed (byte* start = requests[i])
            {
                return Libc.Send(fds[i], start, (nuint)size, Libc.MsgNoSignal) >= 0 || Transient(result, clients[i]);
            }
        }
    }

    /// <summary>After a failed send: true for a full buffer (the request counts as lost later), else records the error.</summary>
    private static bool Transient(WorkerResult result, int client)
    {
        int errno = Marshal.GetLastPInvokeError();
        if (errno is Libc.EAgain or Libc.EIntr or 105 /* ENOBUFS */)
        {
            return true;
        }

        result.Fail($"client {client}: send: {Libc.Describe(errno)}");
        return false;
    }
}
