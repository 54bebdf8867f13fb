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

    /// One packed slot: everything a release or an anchor must read and update.
    /// The head: one packed slot, four uint64 fields from the low bits up. A release costs one
    /// rewrite of this slot and one event; no slot is created per release.
    ///   metadataVersion  of the latest release; 0 before the first
    ///   releaseBlock     block of the latest release; the deployment block before the first
    ///   releaseCount
    ///   checkpointSize   size of the latest anchored checkpoint; 0 before the first
    uint256 private constant U64 = 0xffffffffffffffff;
    uint256 private constant RELEASE_BLOCK_SHIFT = 64;
    uint256 private constant RELEASE_COUNT_SHIFT = 128;
    uint256 private constant CHECKPOINT_SIZE_SHIFT = 192;

    bytes32 public constant PUBLISHER_ROLE = keccak256("tufchain.role.publisher");
    bytes32 public constant LOG_OPERATOR_ROLE = keccak256("tufchain.role.log-operator");
    uint256 private constant PUBLISHER_BIT = 1;
    uint256 private constant LOG_OPERATOR_BIT = 2;

    uint256 private _head;
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

    modifier onlyLogOperator() {
        if (_roles[msg.sender] & LOG_OPERATOR_BIT == 0) revert NotLogOperator(msg.sender);
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
            _head = (head & (U64 << CHECKPOINT_SIZE_SHIFT)) | (releaseCount << RELEASE_COUNT_SHIFT)
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
    function anchor(uint64 size, bytes32 root, bytes32[] calldata consistencyProof)
        external
        onlyLogOperator
    {
        uint256 head = _head;
        uint64 previousSize = uint64(head >> CHECKPOINT_SIZE_SHIFT);
        if (size <= previousSize) revert CheckpointNotExtending(previousSize, size);
        if (previousSize == 0) {
            if (consistencyProof.length != 0) revert ConsistencyProofInvalid(previousSize, size);
        } else if (!_verifyConsistency(previousSize, size, _checkpointRoot, root, consistencyProof)) {
            revert ConsistencyProofInvalid(previousSize, size);
        }
        _head = (head & ~(U64 << CHECKPOINT_SIZE_SHIFT)) | (uint256(size) << CHECKPOINT_SIZE_SHIFT);
        _checkpointRoot = root;
        emit CheckpointAnchored(size, root, msg.sender, previousSize);
    }

    function latestCheckpoint() external view returns (uint64 size, bytes32 root) {
        return (uint64(_head >> CHECKPOINT_SIZE_SHIFT), _checkpointRoot);
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

    /// RFC 9162 section 2.1.4.2, for 0 < first < second.
    function _verifyConsistency(
        uint256 first,
        uint256 second,
        bytes32 firstHash,
        bytes32 secondHash,
        bytes32[] calldata proof
    ) private view returns (bool) {
        uint256 len = proof.length;
        if (len == 0) return false;
        uint256 i = 0;
        bytes32 fr;
        bytes32 sr;
        // If first is an exact power of two, the proof omits its root: start from firstHash.
        if (first & (first - 1) == 0) {
            fr = firstHash;
        } else {
            fr = proof[0];
            i = 1;
        }
        sr = fr;
        uint256 fn = first - 1;
        uint256 sn = second - 1;
        while (fn & 1 == 1) {
            fn >>= 1;
            sn >>= 1;
        }
        for (; i < len; ++i) {
            if (sn == 0) return false;
            bytes32 c = proof[i];
            if (fn & 1 == 1 || fn == sn) {
                fr = _hashNode(c, fr);
                sr = _hashNode(c, sr);
                if (fn & 1 == 0) {
                    while (fn != 0 && fn & 1 == 0) {
                        fn >>= 1;
                        sn >>= 1;
                    }
                }
            } else {
                sr = _hashNode(sr, c);
            }
            fn >>= 1;
            sn >>= 1;
        }
        return sn == 0 && fr == firstHash && sr == secondHash;
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

    /// sha256(0x01 || left || right) through the precompile, using scratch memory only.
    function _hashNode(bytes32 left, bytes32 right) private view returns (bytes32 out) {
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore8(ptr, 0x01)
            mstore(add(ptr, 1), left)
            mstore(add(ptr, 33), right)
            if iszero(staticcall(gas(), 0x02, ptr, 65, 0x00, 0x20)) { revert(0, 0) }
            out := mload(0x00)
        }
    }
}
