using System.Text.RegularExpressions;
using DockerProxy.Tests.Support;
using Xunit.Abstractions;

namespace DockerProxy.Tests.Sctp;

/// <summary>
/// The SCTP relay on a kernel that has SCTP: each case of tests/sctp/sctp_cases.py, run in the
/// guest against ours and against both originals (see <see cref="SctpGuestFixture"/>). Ours must
/// pass every case; the originals every case but one, the 100,000-byte message, which they split
/// into 32,736-byte messages (docs/compatibility.md). Needs qemu-system-x86, busybox-static and
/// Debian's kernel package, which build/sctp-vm.sh installs as root; without them the tests skip,
/// and fail under CI=true.
/// </summary>
[Trait("Category", "SctpGuest")]
[Collection(SctpGuestGroup.Name)]
public sealed class SctpGuestTests(SctpGuestFixture guest, ITestOutputHelper output) : IClassFixture<SctpGuestFixture>
{
    private const string LargeMessage = "large_message_whole";

    // A listener on fd 4: no engine passes one for SCTP so far, so only ours is asked.
    private const string OursOnly = "ours_adopts_a_listener_on_fd_4";

    private static readonly string[] _cases =
    [
        "backend_refusing", "burst_in_order_per_stream", "client_closes_after_a_burst", "echo_ipv4", "echo_ipv6", LargeMessage,
        OursOnly, "port_in_use", "sigint_exits_0", "sigterm_exits_0", "streams_and_ppids", "two_associations",
    ];

    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (string which in new[] { Binaries.Ours, Binaries.Original2010, Binaries.Original285 })
        {
            foreach (string name in _cases)
            {
                if (which == Binaries.Ours || name is not (LargeMessage or OursOnly))
                {
                    data.Add(which, name);
                }
            }
        }

        return data;
    }

    [SkippableTheory]
    [MemberData(nameof(Cases))]
    public void Case_passes_in_the_guest(string which, string caseName)
    {
        (bool passed, string detail) = ResultOf(which, caseName);
        passed.Should().BeTrue($"{which} {caseName}: {detail}");
    }

    [SkippableTheory]
    [InlineData(Binaries.Original2010)]
    [InlineData(Binaries.Original285)]
    public void The_originals_split_a_100000_byte_message_into_four(string which)
    {
        (bool passed, string detail) = ResultOf(which, LargeMessage);
        passed.Should().BeFalse("the original forwards each 32,736-byte read as a message of its own");
        detail.Should().Contain("the backend got 4 messages: [32736, 32736, 32736, 1792]");
    }

    [SkippableTheory]
    [InlineData(Binaries.Ours)]
    [InlineData(Binaries.Original2010)]
    [InlineData(Binaries.Original285)]
    public void Every_case_ran(string which)
    {
        _ = ResultOf(which, _cases[0]);
        string[] expected = which == Binaries.Ours ? _cases : [.. _cases.Where(c => c != OursOnly)];
        guest.CasesOf(which).Should().Equal(expected, "every case of sctp_cases.py is asserted here, and only those");
    }

    [SkippableTheory]
    [InlineData(Binaries.Ours, 32)]
    [InlineData(Binaries.Original2010, 65535)]
    [InlineData(Binaries.Original285, 65535)]
    public void The_backend_is_dialled_with_as_many_streams_as_the_client_negotiated(string which, int streams)
    {
        // The client asked for 32 outbound streams; the originals always ask the backend for 65,535.
        ResultOf(which, "streams_and_ppids").Detail.Should().Contain($"the backend association has [{streams}] inbound streams");
    }

    [SkippableFact]
    public void A_taken_port_fails_with_the_newest_originals_status()
    {
        string ours = ResultOf(Binaries.Ours, "port_in_use").Detail;
        string newest = ResultOf(Binaries.Original285, "port_in_use").Detail;
        static string WithoutPort(string detail) => Regex.Replace(Regex.Replace(detail, @":\d+:", ":PORT:"), @" \(\d+\.\d s\)$", "");
        WithoutPort(ours).Should().Be(WithoutPort(newest));
        WithoutPort(ours).Should().Be(@"status '1\nfailed to listen on 127.0.0.1:PORT: address already in use'");
    }

    private (bool Passed, string Detail) ResultOf(string which, string caseName)
    {
        _ = Binaries.Path(which); // skips, or fails under CI=true, when the implementation is missing
        Skip.If(guest.NotRun is not null, guest.NotRun);
        if (guest.ExitStatus == 125 && Environment.GetEnvironmentVariable("CI") != "true")
        {
            Skip.If(true, "no SCTP guest here (build/sctp-vm.sh needs root to install qemu-system-x86): " + LastLine(guest.Output));
        }

        (bool Passed, string Detail)? result = guest.Result(which, caseName);
        if (result is not { Passed: true })
        {
            output.WriteLine($"build/sctp-vm.sh exited {guest.ExitStatus}; its output:\n{guest.Output}");
        }
        else
        {
            output.WriteLine($"{which} {caseName}: {result.Value.Detail}");
        }

        result.Should().NotBeNull($"the guest run reports {which} {caseName} (exit status {guest.ExitStatus})");
        return result!.Value;
    }

    private static string LastLine(string text) => text.TrimEnd().Split('\n')[^1];
}
