using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using DockerProxy.Native;

namespace DockerProxy.Relay.Tcp;

/// <summary>
/// One direction copied with splice(2): source socket -> pipe -> destination socket, the bytes never
/// entering the process (the original does the same through Go's io.Copy). Both sockets are on the
/// <see cref="TcpEventLoop"/>, so no thread blocks and no operation of the socket engine is
/// involved. The direction reads into a 512-byte buffer first, and a small message is sent on from
/// it (recv + send, cheaper than two splices); a short read means the source is drained, so the
/// direction waits for its next input edge without another read (unless the peer's FIN was
/// already reported: see <see cref="PolledSocket.InputEnded"/>). Only when the buffer comes back
/// full does the rest go through a pipe, spliced until the source says EAGAIN. When the
/// destination is full, the direction waits for its next output edge. A pipe is rented only while
/// bytes are in flight. Where splice cannot be used (no fd for a pipe, a socket that refuses it) the
/// direction copies through a pooled buffer instead, on the same loop.
/// </summary>
internal sealed class SpliceDirection : IRelayDirection
{
    private const uint Flags = Libc.SpliceFMove | Libc.SpliceFNonBlock;

    // What one wake-up copies through memory before it turns to splice: a request or a reply of
    // many protocols fits; a bulk stream pays one small copy per wake-up; an idle connection
    // holds two of these.
    private const int SmallBytes = 512;

    // The buffer of the copy through memory, when splice cannot be used.
    private const int CopyBytes = 16 * 1024;

    private readonly PolledSocket _source;
    private readonly PolledSocket _destination;
    private readonly SplicePipePool _pipes;
    private readonly FlowActivity? _activity;
    private readonly byte[] _small = new byte[SmallBytes];
    private readonly Readiness _readable = new();
    private readonly Readiness _writable = new();
    private int _readEdgesSeen;
    private long _sent;

    internal SpliceDirection(PolledSocket source, PolledSocket destination, SplicePipePool pipes, FlowActivity? activity = null)
    {
        _source = source;
        _destination = destination;
        _pipes = pipes;
        _activity = activity;
    }

    public long BytesSent => _sent;

    public async Task RunAsync()
    {
        Outcome outcome = await CopyAsync();
        if (outcome != Outcome.Aborted)
        {
            // How the original ends a direction: the destination sees a FIN; when the destination
            // failed first, reading from the source stops too.
            HalfClose.End(_source.Socket, _destination.Socket, destinationFailed: outcome == Outcome.DestinationFailed);
        }
    }

    /// <summary>Sends a PROXY protocol header before the direction starts; false when the
    /// destination failed. Not counted in <see cref="BytesSent"/>.</summary>
    internal async ValueTask<bool> SendHeaderAsync(byte[] header)
    {
        bool sent = await SendAsync(header, header.Length) == Outcome.Drained;
        _sent = 0;
        return sent;
    }

    private async Task<Outcome> CopyAsync()
    {
        byte[] buffer = _small;
        bool splice = true;
        bool wait = false;
        try
        {
            while (true)
            {
                if (wait && !await _source.WhenReadable(_readEdgesSeen, _readable))
                {
                    return Outcome.Aborted;
                }

                wait = false;
                _readEdgesSeen = _source.ReadEdges;
                nint received = Receive(buffer);
                if (received < 0)
                {
                    int errno = Marshal.GetLastPInvokeError();
                    if (errno == Libc.EAgain)
                    {
                        wait = true;
                        continue;
                    }

                    return errno == Libc.EBadF ? Outcome.Aborted : Outcome.SourceEnded; // reset: the destination gets a FIN
                }

                if (received == 0)
                {
                    return Outcome.SourceEnded;
                }

                _activity?.Touch();
                Outcome sent = await SendAsync(buffer, (int)received);
                if (sent != Outcome.Drained)
                {
                    return sent;
                }

                if (received < buffer.Length || !splice)
                {
                    // A short read drained the source: wait for its next edge (which may have come
                    // already), unless its end was reported: then read on, to that end.
                    wait = received < buffer.Length && !_source.InputEnded;
                    continue;
                }

                // The small buffer came back full: more may be waiting. Splice it.
                SplicePipe? pipe = _pipes.Rent();
                Outcome moved;
                if (pipe is null)
                {
                    moved = Outcome.Unsupported; // out of fds for a pipe
                }
                else
                {
                    try
                    {
                        moved = await MoveAvailableAsync(pipe);
                    }
                    catch
                    {
                        pipe.Dispose(); // it may still hold bytes
                        throw;
                    }

                    if (moved is Outcome.DestinationFailed or Outcome.Aborted)
                    {
                        pipe.Dispose(); // it may still hold bytes
                        return moved;
                    }

                    _pipes.Return(pipe); // empty again
                }

                switch (moved)
                {
                    case Outcome.Drained:
                        wait = true;
                        break;
                    case Outcome.Unsupported:
                        splice = false; // copy through memory from here on
                        buffer = ArrayPool<byte>.Shared.Rent(CopyBytes);
                        break;
                    default:
                        return moved;
                }
            }
        }
        finally
        {
            if (!ReferenceEquals(buffer, _small))
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }

    // Sends count bytes of buffer, waiting for room as often as needed. Pooled builder: called once
    // per message, it must not allocate a state machine when it waits.
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<Outcome> SendAsync(byte[] buffer, int count)
    {
        int offset = 0;
        while (offset < count)
        {
            int seen = _destination.WriteEdges;
            nint sent = Send(buffer, offset, count - offset);
            if (sent > 0)
            {
                offset += (int)sent;
                continue;
            }

            Outcome room = await RoomAfterAsync(sent, seen);
            if (room != Outcome.Drained)
            {
                return room;
            }
        }

        _sent += count;
        return Outcome.Drained;
    }

    // Moves everything readable now from the source to the destination through the pipe: Drained
    // when the source said EAGAIN (the edges seen before that call are noted for the wait).
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<Outcome> MoveAvailableAsync(SplicePipe pipe)
    {
        while (true)
        {
            _readEdgesSeen = _source.ReadEdges;
            nint moved = SpliceIn(pipe);
            if (moved == 0)
            {
                return Outcome.SourceEnded;
            }

            if (moved < 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                return errno switch
                {
                    Libc.EAgain => Outcome.Drained,
                    Libc.EInval or Libc.ENoSys => Outcome.Unsupported,
                    Libc.EBadF => Outcome.Aborted,
                    _ => Outcome.SourceEnded, // reset or error: the destination gets a FIN
                };
            }

            _activity?.Touch();
            Outcome drained = await DrainAsync(pipe, moved);
            if (drained != Outcome.Drained)
            {
                return drained;
            }
        }
    }

    // Empties the pipe into the destination, waiting for room as often as needed.
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<Outcome> DrainAsync(SplicePipe pipe, nint pending)
    {
        while (pending > 0)
        {
            int seen = _destination.WriteEdges;
            nint sent = SpliceOut(pipe, pending);
            if (sent > 0)
            {
                pending -= sent;
                _sent += sent;
                continue;
            }

            Outcome room = await RoomAfterAsync(sent, seen);
            if (room != Outcome.Drained)
            {
                return room;
            }
        }

        return Outcome.Drained;
    }

    // After a write that moved nothing (its result, and the output edges noted before it): Drained
    // once the destination has room again (EAGAIN, then its next edge); Aborted when the
    // connection was cut (EBADF, or the wait ended); DestinationFailed when the destination is
    // gone (EPIPE, ECONNRESET...). Reads the errno first, before any other call.
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<Outcome> RoomAfterAsync(nint result, int seen)
    {
        int errno = result < 0 ? Marshal.GetLastPInvokeError() : 0;
        if (errno == Libc.EAgain)
        {
            return await _destination.WhenWritable(seen, _writable) ? Outcome.Drained : Outcome.Aborted;
        }

        return errno == Libc.EBadF ? Outcome.Aborted : Outcome.DestinationFailed;
    }

    private unsafe nint Receive(byte[] buffer)
    {
        using var source = new FdLease(_source.Socket);
        fixed (byte* data = buffer)
        {
            return source.Fd < 0 ? Closed() : Libc.Recv(source.Fd, data, buffer.Length, Libc.MsgDontWait);
        }
    }

    private unsafe nint Send(byte[] buffer, int offset, int count)
    {
        using var destination = new FdLease(_destination.Socket);
        fixed (byte* data = buffer)
        {
            return destination.Fd < 0 ? Closed() : Libc.Send(destination.Fd, data + offset, count, Libc.MsgDontWait | Libc.MsgNoSignal);
        }
    }

    private unsafe nint SpliceIn(SplicePipe pipe)
    {
        using var source = new FdLease(_source.Socket);
        return source.Fd < 0 ? Closed() : Libc.Splice(source.Fd, null, pipe.WriteFd, null, (nuint)pipe.Size, Flags);
    }

    private unsafe nint SpliceOut(SplicePipe pipe, nint count)
    {
        using var destination = new FdLease(_destination.Socket);
        return destination.Fd < 0 ? Closed() : Libc.Splice(pipe.ReadFd, null, destination.Fd, null, (nuint)count, Flags);
    }

    // The socket was closed under us (the connection was cut): report it as EBADF.
    private static nint Closed()
    {
        Marshal.SetLastPInvokeError(Libc.EBadF);
        return -1;
    }

    private enum Outcome
    {
        Drained,
        SourceEnded,
        DestinationFailed,
        Unsupported,
        Aborted,
    }
}
