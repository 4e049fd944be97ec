using System.Buffers;
using System.Net.Sockets;
using DockerProxy.Native;

namespace DockerProxy.Relay.Sctp;

/// <summary>
/// One direction of an association pair: reads whole messages from the source (reassembling the
/// parts recvmsg returns until MSG_EOR) and sends each one whole to the destination with the same
/// stream id, PPID and unordered flag. The original forwards every 32 KiB read as a message of its
/// own, so larger messages arrive split; here a message stays one message up to
/// <see cref="MaxMessage"/> bytes.
/// No thread blocks: a zero-byte receive waits until the source is readable, and when the
/// destination has no room, the message goes through the socket engine's SendAsync, which waits
/// until it has (its stream id, PPID and flags set as the association's defaults first). A buffer
/// is rented only while a message is in flight.
/// </summary>
internal sealed class SctpMessagePump
{
    /// <summary>Largest message kept whole; a larger one is forwarded in parts of this size.</summary>
    internal const int MaxMessage = 4 * 1024 * 1024;

    private const int FirstBuffer = 64 * 1024;

    private readonly Socket _source;
    private readonly Socket _destination;

    internal SctpMessagePump(Socket source, Socket destination)
    {
        _source = source;
        _destination = destination;
    }

    internal long Messages { get; private set; }

    internal long Bytes { get; private set; }

    /// <summary>Set when a message larger than <see cref="MaxMessage"/> had to be split.</summary>
    internal bool Split { get; private set; }

    /// <summary>Relays until the source ends; says how it ended.</summary>
    internal async Task<SctpPumpEnd> RunAsync()
    {
        byte[]? buffer = null;
        try
        {
            while (true)
            {
                // Wait (holding no buffer) until the source has a message or has ended.
                _ = await _source.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None);

                buffer ??= ArrayPool<byte>.Shared.Rent(FirstBuffer);
                int length = 0;
                SctpMessageInfo info = default;
                while (true)
                {
                    nint n = SctpNative.Receive(_source, buffer.AsSpan(length), out SctpMessageInfo? received, out int flags, out int errno);
                    if (n < 0)
                    {
                        if (errno != Libc.EAgain)
                        {
                            return SctpPumpEnd.SourceFailed;
                        }

                        if (length == 0)
                        {
                            break; // nothing after all: wait again
                        }

                        // The rest of a message is still on its way.
                        _ = await _source.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None);
                        continue;
                    }

                    if (n == 0)
                    {
                        return SctpPumpEnd.SourceEnded;
                    }

                    if (length == 0 && received is { } first)
                    {
                        info = first;
                    }

                    length += (int)n;
                    bool complete = (flags & SctpNative.MsgEor) != 0;
                    if ((flags & SctpNative.MsgNotification) != 0)
                    {
                        // None are subscribed; should one come, it is the kernel's, not the peer's.
                        length = 0;
                        continue;
                    }

                    if (!complete && length == buffer.Length)
                    {
                        if (buffer.Length < MaxMessage)
                        {
                            byte[] larger = ArrayPool<byte>.Shared.Rent(Math.Min(buffer.Length * 2, MaxMessage));
                            buffer.AsSpan(0, length).CopyTo(larger);
                            ArrayPool<byte>.Shared.Return(buffer);
                            buffer = larger;
                            continue;
                        }

                        Split = true; // too large to keep whole: this part goes on its own
                        complete = true;
                    }

                    if (!complete)
                    {
                        continue;
                    }

                    if (!await SendAsync(buffer.AsMemory(0, length), info))
                    {
                        return SctpPumpEnd.DestinationFailed;
                    }

                    Messages++;
                    Bytes += length;
                    length = 0;
                }

                // Idle again: give the buffer back rather than hold it while the flow is quiet.
                ArrayPool<byte>.Shared.Return(buffer);
                buffer = null;
            }
        }
        catch (SocketException)
        {
            return SctpPumpEnd.SourceFailed;
        }
        catch (ObjectDisposedException)
        {
            return SctpPumpEnd.Aborted;
        }
        finally
        {
            if (buffer is not null)
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }

    private async ValueTask<bool> SendAsync(ReadOnlyMemory<byte> message, SctpMessageInfo info)
    {
        nint sent = SctpNative.Send(_destination, message.Span, info, out int errno);
        if (sent >= 0)
        {
            return true;
        }

        if (errno != Libc.EAgain)
        {
            return false;
        }

        // No room now. A plain send carries the association's default stream id, PPID and flags:
        // set them to this message's, and let the socket engine wait until the message fits.
        if (!SctpNative.SetDefaultSend(_destination, info))
        {
            return false;
        }

        try
        {
            _ = await _destination.SendAsync(message, SocketFlags.None);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
