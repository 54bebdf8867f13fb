// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title TufchainLog: the on-chain transparency log of tufchain releases.
/// @notice Event-sourced: the full history lives in events (replayable with eth_getLogs alone);
/// storage keeps only what the contract must enforce (monotonic versions, append-only
/// checkpoints, roles, recalls, minimum versions).
contract TufchainLog {
    struct Firmware {
        bytes32 digest; // sha256 of the image bytes
        bytes32 hardwareId; // keccak256(utf8(hardware id string))
        uint64 version; // the release's monotonic releaseCounter
    }

    /// The release head: one packed slot, uint64 fields from the low bits up. A release costs one
    /// rewrite of this slot and one event; no slot is created per release.
    ///   metadataVersion  of the latest release; 0 before the first
    ///   releaseBlock     block of the latest release; the deployment block before the first
    ///   releaseCount
    uint256 private constant U64 = 0xffffffffffffffff;
    uint256 private constant RELEASE_BLOCK_SHIFT = 64;
    uint256 private constant RELEASE_COUNT_SHIFT = 128;
    /// The checkpoint head: one packed slot beside the root.
    ///   size             of the latest anchored checkpoint (low 64 bits); 0 before the first
    ///   lastOperator     the log operator that anchored it (next 160 bits): a cache that spares
    ///                    the role lookup when the same operator anchors again; cleared when that
    ///                    operator's role is revoked
    uint256 private constant LAST_OPERATOR_SHIFT = 64;

    bytes32 public constant PUBLISHER_ROLE = keccak256("tufchain.role.publisher");
    bytes32 public constant LOG_OPERATOR_ROLE = keccak256("tufchain.role.log-operator");
    uint256 private constant PUBLISHER_BIT = 1;
    uint256 private constant LOG_OPERATOR_BIT = 2;

    uint256 private _head;
    uint256 private _checkpoint;
    bytes32 private _checkpointRoot;
    address public admin;
    address public pendingAdmin;
    mapping(address account => uint256 roleBits) private _roles;
    mapping(bytes32 subject => uint64 blockNumber) private _recalledAt;
    mapping(bytes32 hardwareId => uint64 version) private _minimumVersion;

    event ReleaseLogged(
        uint64 indexed metadataVersion,
        bytes32 indexed metadataHash,
        address indexed publisher,
        Firmware[] firmware
    );
    event CheckpointAnchored(
        uint64 indexed size,
        bytes32 indexed root,
        address indexed operator,
        uint64 previousSize
    );
    event Recalled(bytes32 indexed subject, address indexed publisher, string reason);
    event MinimumVersionSet(
        bytes32 indexed hardwareId,
        uint64 version,
        uint64 previousVersion,
        address indexed publisher
    );
    event RoleGranted(bytes32 indexed role, address indexed account, address indexed sender);
    event RoleRevoked(bytes32 indexed role, address indexed account, address indexed sender);
    event AdminTransferStarted(address indexed admin, address indexed pendingAdmin);
    event AdminTransferred(address indexed previousAdmin, address indexed newAdmin);

    error NotAdmin(address caller);
    error NotPendingAdmin(address caller);
    error NotPublisher(address caller);
    error NotLogOperator(address caller);
    error ZeroAddress();
    error UnknownRole(bytes32 role);
    error VersionNotIncreasing(uint64 last, uint64 given);
    error ZeroMetadataHash();
    error CheckpointNotExtending(uint64 anchoredSize, uint64 givenSize);
    error ConsistencyProofInvalid(uint64 anchoredSize, uint64 givenSize);
    error ZeroSubject();
    error AlreadyRecalled(bytes32 subject);
    error MinimumVersionNotIncreasing(uint64 current, uint64 given);

    modifier onlyAdmin() {
        if (msg.sender != admin) revert NotAdmin(msg.sender);
        _;
    }

    modifier onlyPublisher() {
        if (_roles[msg.sender] & PUBLISHER_BIT == 0) revert NotPublisher(msg.sender);
        _;
    }

    constructor(address initialAdmin, address[] memory publishers, address[] memory logOperators) {
        if (initialAdmin == address(0)) revert ZeroAddress();
        admin = initialAdmin;
        // A nonzero head from the start: the first release rewrites a slot instead of creating one,
        // and readers learn the block to start their eth_getLogs replay from.
        _head = block.number << RELEASE_BLOCK_SHIFT;
        emit AdminTransferred(address(0), initialAdmin);
        for (uint256 i = 0; i < publishers.length; ++i) _grant(PUBLISHER_ROLE, publishers[i]);
        for (uint256 i = 0; i < logOperators.length; ++i) _grant(LOG_OPERATOR_ROLE, logOperators[i]);
    }

    // ---------------------------------------------------------------- roles

    function grantRole(bytes32 role, address account) external onlyAdmin {
        _grant(role, account);
    }

    function revokeRole(bytes32 role, address account) external onlyAdmin {
        uint256 bit = _roleBit(role);
        uint256 bits = _roles[account];
        if (bits & bit != 0) {
            _roles[account] = bits & ~bit;
            uint256 checkpoint = _checkpoint;
            if (bit == LOG_OPERATOR_BIT && address(uint160(checkpoint >> LAST_OPERATOR_SHIFT)) == account) {
                _checkpoint = checkpoint & U64;
            }
            emit RoleRevoked(role, account, msg.sender);
        }
    }

    function hasRole(bytes32 role, address account) external view returns (bool) {
        return _roles[account] & _roleBit(role) != 0;
    }

    /// Two-step transfer so that a typo cannot orphan the contract; the admin may be a multisig.
    function transferAdmin(address newAdmin) external onlyAdmin {
        if (newAdmin == address(0)) revert ZeroAddress();
        pendingAdmin = newAdmin;
        emit AdminTransferStarted(msg.sender, newAdmin);
    }

    function acceptAdmin() external {
        if (msg.sender != pendingAdmin) revert NotPendingAdmin(msg.sender);
        address previous = admin;
        admin = msg.sender;
        pendingAdmin = address(0);
        emit AdminTransferred(previous, msg.sender);
    }

    // ---------------------------------------------------------------- release log

    function logRelease(uint64 metadataVersion, bytes32 metadataHash, Firmware[] calldata firmware)
        external
        onlyPublisher
    {
        if (metadataHash == bytes32(0)) revert ZeroMetadataHash();
        uint256 head = _head;
        uint64 last = uint64(head);
        if (metadataVersion <= last) revert VersionNotIncreasing(last, metadataVersion);
        unchecked {
            uint256 releaseCount = ((head >> RELEASE_COUNT_SHIFT) & U64) + 1;
            _head = (releaseCount << RELEASE_COUNT_SHIFT)
                | (uint256(uint64(block.number)) << RELEASE_BLOCK_SHIFT) | metadataVersion;
        }
        _emitReleaseLogged(metadataVersion, metadataHash, firmware);
    }

    /// The latest logged metadata version, the block that logged it and the number of releases.
    /// Its metadata hash is not stored (a second slot would cost 5k gas per release): read it from
    /// the ReleaseLogged event in `blockNumber` whose topic 1 is `metadataVersion`. Before the first
    /// release, `blockNumber` is the deployment block.
    function latestRelease()
        external
        view
        returns (uint64 metadataVersion, uint64 blockNumber, uint64 releaseCount)
    {
        uint256 head = _head;
        return (
            uint64(head),
            uint64(head >> RELEASE_BLOCK_SHIFT),
            uint64(head >> RELEASE_COUNT_SHIFT)
        );
    }

    // ---------------------------------------------------------------- recalls and floors

    /// A recall names a firmware digest or a metadata hash; it is permanent.
    function recall(bytes32 subject, string calldata reason) external onlyPublisher {
        if (subject == bytes32(0)) revert ZeroSubject();
        if (_recalledAt[subject] != 0) revert AlreadyRecalled(subject);
        _recalledAt[subject] = uint64(block.number);
        emit Recalled(subject, msg.sender, reason);
    }

    function isRecalled(bytes32 subject) external view returns (bool) {
        return _recalledAt[subject] != 0;
    }

    function recalledAt(bytes32 subject) external view returns (uint64 blockNumber) {
        return _recalledAt[subject];
    }

    /// Anti-rollback floor per hardware ID; it can only rise.
    function setMinimumVersion(bytes32 hardwareId, uint64 version) external onlyPublisher {
        uint64 current = _minimumVersion[hardwareId];
        if (version <= current) revert MinimumVersionNotIncreasing(current, version);
        _minimumVersion[hardwareId] = version;
        emit MinimumVersionSet(hardwareId, version, current, msg.sender);
    }

    function minimumVersion(bytes32 hardwareId) external view returns (uint64) {
        return _minimumVersion[hardwareId];
    }

    // ---------------------------------------------------------------- checkpoint anchoring

    /// Anchors a checkpoint of the RFC 9162 log. Accepted only if it extends the last anchored
    /// checkpoint, proven by an RFC 9162 section 2.1.4.2 consistency proof.
    function anchor(uint64 size, bytes32 root, bytes32[] calldata consistencyProof) external {
        uint256 checkpoint = _checkpoint;
        if (address(uint160(checkpoint >> LAST_OPERATOR_SHIFT)) != msg.sender) {
            if (_roles[msg.sender] & LOG_OPERATOR_BIT == 0) revert NotLogOperator(msg.sender);
        }
        uint64 previousSize = uint64(checkpoint);
        if (size <= previousSize) revert CheckpointNotExtending(previousSize, size);
        if (previousSize == 0) {
            if (consistencyProof.length != 0) revert ConsistencyProofInvalid(previousSize, size);
        } else if (!_verifyConsistency(previousSize, size, _checkpointRoot, root, consistencyProof)) {
            revert ConsistencyProofInvalid(previousSize, size);
        }
        _checkpoint = (uint256(uint160(msg.sender)) << LAST_OPERATOR_SHIFT) | size;
        _checkpointRoot = root;
        emit CheckpointAnchored(size, root, msg.sender, previousSize);
    }

    function latestCheckpoint() external view returns (uint64 size, bytes32 root) {
        return (uint64(_checkpoint), _checkpointRoot);
    }

    // ---------------------------------------------------------------- internals

    function _grant(bytes32 role, address account) private {
        uint256 bit = _roleBit(role);
        if (account == address(0)) revert ZeroAddress();
        uint256 bits = _roles[account];
        if (bits & bit == 0) {
            _roles[account] = bits | bit;
            emit RoleGranted(role, account, msg.sender);
        }
    }

    function _roleBit(bytes32 role) private pure returns (uint256) {
        if (role == PUBLISHER_ROLE) return PUBLISHER_BIT;
        if (role == LOG_OPERATOR_ROLE) return LOG_OPERATOR_BIT;
        revert UnknownRole(role);
    }

    /// RFC 9162 section 2.1.4.2, for 0 < first < second. In assembly for the anchor gas goal:
    /// calldata is read without per-element bounds checks (the ABI decoder already checked that
    /// the array lies within calldata), and node hashes are computed by the sha256 precompile
    /// over fixed memory: 0x1f = the 0x01 prefix, 0x20 = left, 0x40 = right (the free memory
    /// pointer is saved and restored; nothing else uses memory meanwhile).
    ///
    /// The RFC's single loop is split in two at the level where fn and sn meet (fn == sn), which
    /// spares its per-element branches; every input takes the same decision as in the RFC:
    /// - while fn < sn (below the meeting level; sn > fn >= 0, so the RFC's `sn == 0` never
    ///   fires): a left sibling (LSB(fn) set) updates both roots, a right sibling only sr;
    /// - from fn == sn on, the RFC hashes every element into both roots as a left sibling and
    ///   drops fn's lowest set bit with the zeros below it; clearing that bit alone consumes the
    ///   same number of elements (popcount(fn)) in the same order.
    /// The number of elements the RFC consumes depends on first and second only, so the loops run
    /// on fn and sn alone (at most 64 rounds each) and the proof is accepted only if they end
    /// exactly at its end (the RFC rejects a longer proof by `sn == 0` and a shorter one by its
    /// final `sn == 0` check). A short proof makes them read calldata past its end; that only
    /// costs its sender gas, as p != end refuses it.
    function _verifyConsistency(
        uint256 first,
        uint256 second,
        bytes32 firstHash,
        bytes32 secondHash,
        bytes32[] calldata proof
    ) private view returns (bool ok) {
        assembly {
            let freeMemoryPointer := mload(0x40)
            mstore(0x00, 1)
            let p := proof.offset
            let end := add(p, shl(5, proof.length))
            ok := lt(p, end) // an empty proof proves nothing
            let fr := firstHash
            // Unless first is a power of two (then the proof omits its root, firstHash), the proof
            // starts with the node both roots are built from.
            if and(ok, iszero(iszero(and(first, sub(first, 1))))) {
                fr := calldataload(p)
                p := add(p, 0x20)
            }
            let sr := fr
            let fn := sub(first, 1)
            let sn := sub(second, 1)
            for {} and(fn, 1) {} {
                fn := shr(1, fn)
                sn := shr(1, sn)
            }
            // fn <= sn holds throughout (first < second, and shifting keeps the order).
            for {} lt(fn, sn) { p := add(p, 0x20) } {
                switch and(fn, 1)
                case 0 {
                    // sr = H(sr || c)
                    mstore(0x20, sr)
                    mstore(0x40, calldataload(p))
                    ok := and(ok, staticcall(gas(), 0x02, 0x1f, 65, 0x20, 0x20))
                    sr := mload(0x20)
                }
                default {
                    // fr = H(c || fr), sr = H(c || sr)
                    mstore(0x20, calldataload(p))
                    mstore(0x40, fr)
                    ok := and(ok, staticcall(gas(), 0x02, 0x1f, 65, 0x40, 0x20))
                    fr := mload(0x40)
                    mstore(0x40, sr)
                    ok := and(ok, staticcall(gas(), 0x02, 0x1f, 65, 0x40, 0x20))
                    sr := mload(0x40)
                }
                fn := shr(1, fn)
                sn := shr(1, sn)
            }
            // From here fn == sn: only fn is kept.
            for {} fn { p := add(p, 0x20) } {
                // fr = H(c || fr), sr = H(c || sr)
                mstore(0x20, calldataload(p))
                mstore(0x40, fr)
                ok := and(ok, staticcall(gas(), 0x02, 0x1f, 65, 0x40, 0x20))
                fr := mload(0x40)
                mstore(0x40, sr)
                ok := and(ok, staticcall(gas(), 0x02, 0x1f, 65, 0x40, 0x20))
                sr := mload(0x40)
                fn := and(fn, sub(fn, 1))
            }
            ok := and(ok, and(eq(p, end), and(eq(fr, firstHash), eq(sr, secondHash))))
            mstore(0x40, freeMemoryPointer)
        }
    }

    /// Emits ReleaseLogged by copying the firmware array's calldata encoding, which is already the
    /// ABI encoding of the event data; this skips re-encoding element by element (release gas goal).
    /// Each version must be a clean uint64, as the ABI decoder would require.
    function _emitReleaseLogged(uint64 metadataVersion, bytes32 metadataHash, Firmware[] calldata firmware)
        private
    {
        bytes32 topic0 = ReleaseLogged.selector;
        assembly ("memory-safe") {
            let count := firmware.length
            let size := mul(count, 0x60)
            for { let p := add(firmware.offset, 0x40) let end := add(p, size) } lt(p, end) { p := add(p, 0x60) } {
                if shr(64, calldataload(p)) { revert(0, 0) }
            }
            let ptr := mload(0x40)
            mstore(ptr, 0x20)
            mstore(add(ptr, 0x20), count)
            calldatacopy(add(ptr, 0x40), firmware.offset, size)
            log4(ptr, add(size, 0x40), topic0, metadataVersion, metadataHash, caller())
        }
    }
}
